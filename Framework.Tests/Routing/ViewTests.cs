using System.Net;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Routing;

public class ViewTests
{
    public sealed class ItemView
    {
        public void Get(Request req, Response res, int pk) => res.Json = new { pk, method = "get" };

        public async Task Post(Request req, Response res, int pk)
        {
            var body = await req.TextAsync();
            res.StatusCode = 201;
            res.Text = $"created {pk}: {body}";
        }
    }

    public sealed class EverythingView
    {
        public void Handle(Request req, Response res) => res.Text = $"handled {req.Method}";
    }

    [Route("/things/{name}")]
    public sealed class ThingView
    {
        public void Get(Request req, Response res, string name) => res.Text = $"thing {name}";
    }

    public static class Handlers
    {
        [Route("/static-a")]
        public static void A(Request req, Response res) => res.Text = "a";

        [Route("/static-b/{n}", "POST", Name = "b")]
        public static Task B(Request req, Response res, int n)
        {
            res.Text = $"b{n * 2}";
            return Task.CompletedTask;
        }
    }

    public sealed class Stamp : IHook
    {
        public Task InvokeAsync(Request req, Response res, IReadOnlyDictionary<string, object?> pathParams)
        {
            res.Headers.Append("X-Hooks", $"stamp:{pathParams["pk"]}");
            return Task.CompletedTask;
        }
    }

    [Before(typeof(Stamp))]
    public sealed class HookedView
    {
        public void Get(Request req, Response res, int pk) => res.Text = "hooked";
    }

    [Test]
    public async Task Class_based_view_methods_answer_their_http_methods()
    {
        var app = TestApps.Quiet();
        app.Route<ItemView>("/items/{pk}");
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/items/4")).Should().Be("""{"pk":4,"method":"get"}""");
        var created = await client.PostAsync("/items/4", new StringContent("hi"));
        created.StatusCode.Should().Be(HttpStatusCode.Created);
        (await created.TextAsync()).Should().Be("created 4: hi");
        var wrong = await client.DeleteAsync("/items/4");
        wrong.StatusCode.Should().Be(HttpStatusCode.MethodNotAllowed);
        wrong.Content.Headers.Allow.Should().BeEquivalentTo("GET", "HEAD", "POST");
    }

    [Test]
    public async Task Handle_answers_every_method()
    {
        var app = TestApps.Quiet();
        app.Route<EverythingView>("/any");
        await using var client = app.CreateClient();

        (await (await client.PutAsync("/any", null)).TextAsync()).Should().Be("handled PUT");
        (await client.GetStringAsync("/any")).Should().Be("handled GET");
    }

    [Test]
    public async Task Route_attributes_register_views_and_static_methods()
    {
        var app = TestApps.Quiet();
        app.Route<ThingView>();
        app.Routes(typeof(Handlers));
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/things/lamp")).Should().Be("thing lamp");
        (await client.GetStringAsync("/static-a")).Should().Be("a");
        (await (await client.PostAsync("/static-b/21", null)).TextAsync()).Should().Be("b42");
        app.UrlFor("b", new { n = 1 }).Should().Be("/static-b/1");
    }

    [Test]
    public void A_view_without_a_route_attribute_says_how_to_fix_it() =>
        FluentActions.Invoking(() => new App().Route<ItemView>()).Should().Throw<ArgumentException>().WithMessage("*[Route(\"/pattern\")]*");

    [Test]
    public async Task Before_and_after_hooks_run_around_the_handler_with_path_params()
    {
        var app = TestApps.Quiet();
        var order = new List<string>();
        app.Route("/items/{pk}", (Request req, Response res, int pk) => { order.Add("handler"); res.Text = "ok"; })
            .Before((req, res, p) => order.Add($"before {p["pk"]} {p["pk"]!.GetType().Name}"))
            .After(async (req, res, p) => { await Task.Yield(); order.Add("after"); res.Headers["X-After"] = "yes"; });
        app.Route<HookedView>("/hooked/{pk}");
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/items/7");

        order.Should().Equal("before 7 Int32", "handler", "after");
        response.Headers.GetValues("X-After").Should().Equal("yes");
        var hooked = await client.GetAsync("/hooked/5");
        hooked.Headers.GetValues("X-Hooks").Should().Equal("stamp:5");
    }

    [Test]
    public async Task A_before_hook_can_refuse_the_request()
    {
        var app = TestApps.Quiet();
        var ran = false;
        app.Route("/secret", (req, res) => { ran = true; })
            .Before((req, res, p) =>
            {
                if (req.Headers["X-Token"] != "letmein") throw new HttpError(401, "Token required.");
            });
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/secret");
        response.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        ran.Should().BeFalse();
    }
}
