using Microsoft.Extensions.Logging;
using System.Net;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Routing;

/// <summary>Developer-experience issue, item 2: handlers that return a value instead of setting it, a Task assigned as a body,
/// and middleware that does not await next() — each was a silent empty 200.</summary>
public class ReturnValueTests
{
    private sealed record Item(string Name);

    private static List<int> ListHandler(Request req, Response res) => [1, 2, 3];

    [Test]
    public void A_handler_that_returns_an_object_is_refused_when_the_route_is_added()
    {
        var app = new App();
        FluentActions.Invoking(() => app.Route("/items/{pk}", (Request req, Response res, int pk) => new { pk }))
            .Should().Throw<ArgumentException>().WithMessage("*returns a value (an anonymous object)*res.Json = *");
        FluentActions.Invoking(() => app.Get("/item", async (Request req, Response res) => { await Task.Yield(); return new Item("x"); }))
            .Should().Throw<ArgumentException>().WithMessage("*returns a value (Item)*");
        FluentActions.Invoking(() => app.Get("/list", ListHandler))
            .Should().Throw<ArgumentException>().WithMessage("*List<Int32>*");
    }

    [Test]
    public async Task A_returned_string_with_no_body_is_an_error_not_an_empty_200()
    {
        var app = TestApps.Quiet();
        app.Get("/hello", (Request req, Response res) => "hello");
        app.Get("/async", async (Request req, Response res) => { await Task.Yield(); return "hello"; });
        await using var client = app.CreateClient();

        foreach (var path in new[] { "/hello", "/async" })
            (await client.GetAsync(path)).StatusCode.Should().Be(HttpStatusCode.InternalServerError, path);
    }

    [Test]
    public async Task Expression_bodied_assignments_keep_working()
    {
        var app = TestApps.Quiet(s => { s.Sessions = true; s.SecretKey = new string('k', 40); });
        app.Route("/json/{pk}", (Request req, Response res, int pk) => res.Json = new { pk });
        app.Route("/text/{name}", async (Request req, Response res, string name) => res.Text = await Task.FromResult($"hi {name}"));
        app.Route("/status/{code}", (Request req, Response res, int code) => res.StatusCode = code);
        app.Route("/header/{v}", (Request req, Response res, string v) => res.Headers["X-V"] = v);
        app.Route("/login/{user}", (Request req, Response res, string user) => req.Session["user"] = user);
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/json/7")).Should().Be("""{"pk":7}""");
        (await client.GetStringAsync("/text/ana")).Should().Be("hi ana");
        (await client.GetAsync("/status/204")).StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await client.GetAsync("/header/x")).Headers.GetValues("X-V").Should().Equal("x");
        (await client.GetAsync("/login/ana")).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Test]
    public async Task A_task_assigned_as_a_body_says_to_await_it()
    {
        var app = TestApps.Quiet();
        string? message = null;
        app.Post("/items", (req, res) =>
        {
            try
            {
                res.Json = req.JsonAsync<Item>();
            }
            catch (ArgumentException e)
            {
                message = e.Message;
                res.StatusCode = 500;
            }
        });
        await using var client = app.CreateClient();

        await client.PostAsync("/items", new StringContent("""{"name":"x"}""", System.Text.Encoding.UTF8, "application/json"));

        message.Should().Contain("add await").And.Contain("res.Json = await req.JsonAsync<T>()");
    }

    [Test]
    public async Task Middleware_that_does_not_await_next_is_reported_instead_of_losing_the_response()
    {
        var app = TestApps.Quiet();
#pragma warning disable CS4014 // The bug under test: next() is not awaited.
        app.Use((req, res, next) =>
        {
            next();
            return Task.CompletedTask;
        });
#pragma warning restore CS4014
        app.Get("/slow", async (req, res) =>
        {
            await Task.Delay(200);
            res.Text = "late";
        });
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/slow");

        response.StatusCode.Should().Be(HttpStatusCode.InternalServerError, "before, this was an empty 200");
    }
}

/// <summary>Developer-experience issue, item 8: a route that an earlier one shadows completely is refused, naming both.</summary>
public class ShadowedRouteTests
{
    [Test]
    public void A_route_with_the_same_shape_as_an_earlier_one_is_refused_naming_both()
    {
        var app = new App();
        app.Route("/items/{pk}", (Request req, Response res, int pk) => res.Json = new { pk });

        FluentActions.Invoking(() => app.Route("/items/{id}", (Request req, Response res, int id) => res.Json = new { id }))
            .Should().Throw<ArgumentException>().WithMessage("Route GET /items/{id} can never match: GET /items/{pk}, added before it, matches the same paths.*");
        FluentActions.Invoking(() => app.Route("/files/{rest:path}", (req, res) => { }))
            .Should().NotThrow();
        FluentActions.Invoking(() => app.Route("/files/{other:path}", (req, res) => { }))
            .Should().Throw<ArgumentException>().WithMessage("*/files/{rest:path}*");
    }

    [Test]
    public void Different_methods_or_shapes_are_fine()
    {
        var app = new App();
        app.Get("/items/{pk}", (Request req, Response res, int pk) => res.Json = new { pk });
        FluentActions.Invoking(() =>
        {
            app.Post("/items/{id}", (Request req, Response res, int id) => res.Json = new { id });
            app.Get("/items/{pk}/edit", (Request req, Response res, int pk) => res.Json = new { pk });
            app.Get("/items/new", (req, res) => res.Text = "form");
            app.WebSocketRoute("/items/{room}", ws => Task.CompletedTask);
        }).Should().NotThrow();
    }
}

public class ShadowedLiteralRouteTests
{
    [Test]
    public async Task A_literal_route_shadowed_by_an_earlier_pattern_is_a_startup_warning()
    {
        var logs = new Bocata.Tests.Middleware.ErrorHandlingTests.ListLoggerProvider();
        var app = new App();
        app.Configure(s => { s.AccessLog = false; s.LoggerFactory = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(logs)); });
        app.Get("/items/{pk}", (Request req, Response res, int pk) => res.Json = new { pk });
        app.Get("/items/new", (req, res) => res.Text = "form");
        await using var client = app.CreateClient();

        lock (logs.Messages) logs.Messages.Should().Contain(m => m.StartsWith("Warning Route /items/new is shadowed by /items/{pk}"));
        (await client.GetAsync("/items/new")).StatusCode.Should().Be(System.Net.HttpStatusCode.BadRequest, "Bocadillo's registration order: {pk} wins");
    }
}
