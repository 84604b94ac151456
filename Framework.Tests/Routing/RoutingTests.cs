using System.Net;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Routing;

public class RoutingTests
{
    [Test]
    public async Task Unknown_path_is_a_json_404()
    {
        var app = TestApps.Quiet();
        app.Route("/", (req, res) => res.Text = "home");
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/missing");

        response.StatusCode.Should().Be(HttpStatusCode.NotFound);
        response.Content.Headers.ContentType!.MediaType.Should().Be("application/json");
        (await response.TextAsync()).Should().Be("""{"error":"404 Not Found","status":404}""");
    }

    [Test]
    public async Task Other_method_on_a_matched_path_is_405_with_Allow()
    {
        var app = TestApps.Quiet();
        app.Route("/items", (req, res) => res.Text = "list");
        app.Post("/items", (req, res) => res.StatusCode = 201);
        await using var client = app.CreateClient();

        var response = await client.DeleteAsync("/items");

        response.StatusCode.Should().Be(HttpStatusCode.MethodNotAllowed);
        response.Content.Headers.Allow.Should().BeEquivalentTo("GET", "HEAD", "POST");
        (await client.PostAsync("/items", null)).StatusCode.Should().Be(HttpStatusCode.Created);
    }

    [Test]
    public async Task Head_is_answered_by_the_get_handler_without_a_body()
    {
        var app = TestApps.Quiet();
        app.Route("/", (req, res) => res.Text = "Hello, World!");
        await using var client = app.CreateClient();

        var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/"));

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        response.Content.Headers.ContentLength.Should().Be(13);
        (await response.Content.ReadAsByteArrayAsync()).Should().BeEmpty();
    }

    [Test]
    public async Task Typed_parameters_are_bound_by_name_and_converted()
    {
        var app = TestApps.Quiet();
        app.Route("/items/{pk}/{slug}", (Request req, Response res, string slug, int pk) => res.Json = new { pk, slug, kind = pk.GetType().Name });
        app.Route("/at/{day}/{id}/{color}", (Request req, Response res, DateOnly day, Guid id, ConsoleColor color, bool flag = false) =>
            res.Text = $"{day:yyyy-MM-dd} {id} {color} {flag}");
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/items/42/hello")).Should().Be("""{"pk":42,"slug":"hello","kind":"Int32"}""");
        var id = Guid.NewGuid();
        (await client.GetStringAsync($"/at/2026-11-25/{id}/red?flag=true")).Should().Be($"2026-11-25 {id} Red True");
    }

    [Test]
    public async Task A_conversion_failure_is_400_with_per_parameter_detail()
    {
        var app = TestApps.Quiet();
        app.Route("/items/{pk}", (Request req, Response res, int pk) => res.Json = new { pk });
        app.Route("/both/{a}/{b}", (Request req, Response res, long a, Guid b) => res.Text = "ok");
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/items/abc");
        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await response.TextAsync()).Should().Be("""{"error":"400 Bad Request","status":400,"detail":{"pk":"Must be a number."}}""");

        var both = await (await client.GetAsync("/both/x/y")).JsonAsync();
        both.GetProperty("detail").GetProperty("a").GetString().Should().Be("Must be a number.");
        both.GetProperty("detail").GetProperty("b").GetString().Should().Be("Must be a UUID.");
        (await client.GetAsync("/items/99999999999999999999")).StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }

    [Test]
    public async Task Parameters_with_defaults_come_from_the_query_string_last_value_wins()
    {
        var app = TestApps.Quiet();
        app.Route("/search", (Request req, Response res, string q = "none", int page = 1) => res.Text = $"{q}:{page}");
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/search")).Should().Be("none:1");
        (await client.GetStringAsync("/search?q=cats&page=2&page=3")).Should().Be("cats:3");
        var bad = await client.GetAsync("/search?page=two");
        bad.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await bad.TextAsync()).Should().Contain("\"page\":\"Must be a number.\"");
    }

    [Test]
    public void A_handler_parameter_that_cannot_be_bound_fails_at_start_with_a_fix()
    {
        var app = TestApps.Quiet();
        app.Route("/items", (Request req, Response res, int pk) => res.Text = "x");

        FluentActions.Invoking(() => app.CreateClient()).Should().Throw<ArgumentException>()
            .WithMessage("*parameter 'pk'*Add {pk} to the pattern*default*app.Provide*");
    }

    [Test]
    public void A_handler_without_request_and_response_first_is_rejected()
    {
        var app = TestApps.Quiet();
        app.Route("/items/{pk}", (int pk) => { });

        FluentActions.Invoking(() => app.CreateClient()).Should().Throw<ArgumentException>().WithMessage("*(Request req, Response res) first*");
    }

    [Test]
    public void Registering_the_same_method_and_path_twice_is_an_error()
    {
        var app = TestApps.Quiet();
        app.Route("/x", (req, res) => { });
        FluentActions.Invoking(() => app.Route("/x", (req, res) => { })).Should().Throw<ArgumentException>().WithMessage("*GET /x is already registered*");
    }

    [Test]
    public async Task Missing_trailing_slash_redirects_when_the_slashed_route_exists()
    {
        var app = TestApps.Quiet();
        app.Route("/docs/", (req, res) => res.Text = "docs");
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/docs?page=2");

        response.StatusCode.Should().Be(HttpStatusCode.Redirect);
        response.Headers.Location!.OriginalString.Should().Be("/docs/?page=2");
        (await client.GetAsync("/nothing")).StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Test]
    public async Task Trailing_slash_redirect_can_be_turned_off()
    {
        var app = TestApps.Quiet(s => s.RedirectTrailingSlash = false);
        app.Route("/docs/", (req, res) => res.Text = "docs");
        await using var client = app.CreateClient();

        (await client.GetAsync("/docs")).StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Test]
    public async Task Routes_match_in_registration_order_static_or_not()
    {
        var app = TestApps.Quiet();
        app.Route("/items/{pk}", (Request req, Response res, string pk) => res.Text = $"item {pk}");
        app.Route("/items/new", (req, res) => res.Text = "new form");
        app.Route("/{path:path}", (Request req, Response res, string path) => res.Text = $"fallback {path}");
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/items/new")).Should().Be("item new", "the pattern was registered first (Bocadillo's order)");
        (await client.GetStringAsync("/items/7")).Should().Be("item 7");
        (await client.GetStringAsync("/a/b/c")).Should().Be("fallback a/b/c");
    }

    [Test]
    public async Task Registration_order_decides_between_patterns_with_literal_and_parameter_first_segments()
    {
        var app = TestApps.Quiet();
        app.Route("/{kind}/{pk}", (Request req, Response res, string kind, string pk) => res.Text = $"generic {kind} {pk}");
        app.Route("/items/{pk}", (Request req, Response res, int pk) => res.Text = $"item {pk}");
        app.Route("/users/{pk}/profile", (Request req, Response res, int pk) => res.Text = $"profile {pk}");
        for (var i = 0; i < 30; i++) app.Route($"/r{i}/{{id}}/x", (Request req, Response res, int id) => res.Text = $"r{id}");
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/items/3")).Should().Be("generic items 3", "the earlier pattern wins");
        (await client.GetStringAsync("/users/4/profile")).Should().Be("profile 4");
        (await client.GetStringAsync("/r29/7/x")).Should().Be("r7");
        (await client.GetStringAsync("/r29/7")).Should().Be("generic r29 7");
        (await client.GetAsync("/r29/7/y")).StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Test]
    public async Task Shortcuts_register_their_method()
    {
        var app = TestApps.Quiet();
        app.Get("/r", (req, res) => res.Text = "get");
        app.Post("/r", (req, res) => res.Text = "post");
        app.Put("/r", (req, res) => res.Text = "put");
        app.Patch("/r", (req, res) => res.Text = "patch");
        app.Delete("/r", async (req, res) => { await Task.Yield(); res.Text = "delete"; });
        app.Route("/multi", (req, res) => res.Text = req.Method, "GET", "OPTIONS");
        await using var client = app.CreateClient();

        foreach (var method in new[] { "GET", "POST", "PUT", "PATCH", "DELETE" })
            (await (await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), "/r"))).TextAsync()).Should().Be(method.ToLowerInvariant());
        (await (await client.SendAsync(new HttpRequestMessage(HttpMethod.Options, "/multi"))).TextAsync()).Should().Be("OPTIONS");
    }

    [Test]
    public async Task Named_routes_build_urls_with_UrlFor()
    {
        var app = TestApps.Quiet();
        app.Route("/users/{name}/posts/{pk}", (Request req, Response res, string name, int pk) => res.Text = "post", name: "post");
        var api = new Router();
        api.Route("/items/{pk}", (Request req, Response res, int pk) => res.Text = "item", name: "api-item");
        app.IncludeRouter(api, prefix: "/api");
        app.Route("/link", (req, res) => res.Text = app.UrlFor("post", new { name = "ana maria", pk = 3 }));
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/link")).Should().Be("/users/ana%20maria/posts/3");
        app.UrlFor("api-item", new Dictionary<string, object?> { ["pk"] = 9 }).Should().Be("/api/items/9");
        FluentActions.Invoking(() => app.UrlFor("nope")).Should().Throw<ArgumentException>().WithMessage("*No route is named 'nope'*");
        FluentActions.Invoking(() => app.UrlFor("post", new { name = "x" })).Should().Throw<ArgumentException>().WithMessage("*needs a value for 'pk'*");
    }

    [Test]
    public async Task Routers_are_included_under_a_prefix()
    {
        var api = new Router();
        api.Route("/items/{pk}", (Request req, Response res, int pk) => res.Json = new { pk });
        var v2 = new Router();
        v2.Get("/ping", (req, res) => res.Text = "pong");
        api.IncludeRouter(v2, prefix: "/v2");
        var app = TestApps.Quiet();
        app.IncludeRouter(api, prefix: "/api");
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/api/items/5")).Should().Be("""{"pk":5}""");
        (await client.GetStringAsync("/api/v2/ping")).Should().Be("pong");
        (await client.GetAsync("/items/5")).StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Test]
    public async Task A_mounted_app_sees_paths_relative_to_its_prefix_and_keeps_its_own_error_handlers()
    {
        var admin = new App();
        admin.Route("/", (req, res) => res.Text = $"admin home {req.PathBase}");
        admin.Route("/users/{pk}", (Request req, Response res, int pk) => res.Text = $"admin user {pk} at {req.Path}");
        admin.ErrorHandler<HttpError>(ErrorHandlers.ToText);
        var app = TestApps.Quiet();
        app.Mount("/admin", admin);
        app.Route("/", (req, res) => res.Text = "main");
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/admin")).Should().Be("admin home /admin");
        (await client.GetStringAsync("/admin/users/3")).Should().Be("admin user 3 at /users/3");
        var missing = await client.GetAsync("/admin/nope");
        missing.StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await missing.TextAsync()).Should().Be("404 Not Found");
        (await client.GetAsync("/administrator")).StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Test]
    public async Task Routes_cannot_be_added_after_the_app_started()
    {
        var app = TestApps.Quiet();
        app.Route("/", (req, res) => { });
        await using var client = app.CreateClient();
        FluentActions.Invoking(() => app.Route("/late", (req, res) => { })).Should().Throw<InvalidOperationException>().WithMessage("*before app.Run()*");
    }
}
