using System.Net;
using System.Security.Claims;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Identity;

/// <summary>Who may call a route. The user comes from a test header through middleware (req.User is settable), so these tests
/// run again in Bocata.Tests.Generated, where views and typed handlers are bound by the source generator.</summary>
public class RequiresTests
{
    /// <summary>An app whose middleware signs in the user named by <c>X-User</c>, with the claims of <c>X-Claims</c>
    /// (<c>type=value;type=value</c>).</summary>
    private static App App()
    {
        var app = TestApps.Quiet();
        app.Use(async (req, res, next) =>
        {
            if (req.Headers["X-User"] is { } name)
            {
                var claims = new List<Claim> { new(ClaimTypes.Name, name) };
                foreach (var pair in (req.Headers["X-Claims"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
                    claims.Add(new Claim(pair.Split('=')[0], pair.Split('=')[1]));
                req.User = new ClaimsPrincipal(new ClaimsIdentity(claims, "test"));
            }
            await next();
        });
        return app;
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, string? user = null, string? claims = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (user is not null) request.Headers.Add("X-User", user);
        if (claims is not null) request.Headers.Add("X-Claims", claims);
        return client.SendAsync(request);
    }

    [Test]
    public async Task Authenticated_lets_any_signed_in_user_through_and_answers_401_to_others()
    {
        var app = App();
        app.Get("/me", (req, res) => res.Text = req.User.Identity!.Name).Requires("authenticated");
        await using var client = app.CreateClient();

        var signedIn = await SendAsync(client, HttpMethod.Get, "/me", "ana");
        var anonymous = await SendAsync(client, HttpMethod.Get, "/me");

        (await signedIn.TextAsync()).Should().Be("ana");
        anonymous.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        anonymous.Headers.WwwAuthenticate.Should().BeEmpty("without s.Jwt there is no bearer scheme to announce");
        var body = await anonymous.JsonAsync();
        body.GetProperty("error").GetString().Should().Be("401 Unauthorized");
        body.GetProperty("status").GetInt32().Should().Be(401);
    }

    [TestCase("role=admin")]
    [TestCase("roles=admin")]
    [TestCase("http://schemas.microsoft.com/ws/2008/06/identity/claims/role=admin")]
    [TestCase("scope=read admin write")]
    [TestCase("scp=admin")]
    public async Task A_name_is_a_role_or_a_scope(string claims)
    {
        var app = App();
        app.Delete("/items/{pk}", (Request req, Response res, int pk) => res.Text = $"deleted {pk}").Requires("admin");
        await using var client = app.CreateClient();

        var response = await SendAsync(client, HttpMethod.Delete, "/items/3", "ana", claims);

        (await response.TextAsync()).Should().Be("deleted 3", "the typed handler is still bound behind Requires");
    }

    [Test]
    public async Task Signed_in_without_the_name_is_a_403_that_names_it()
    {
        var app = App();
        app.Get("/admin", (req, res) => res.Text = "ok").Requires("authenticated", "admin", "billing");
        await using var client = app.CreateClient();

        var response = await SendAsync(client, HttpMethod.Get, "/admin", "ana", "role=billing;scope=administrators");

        response.StatusCode.Should().Be(HttpStatusCode.Forbidden);
        var detail = (await response.JsonAsync()).GetProperty("detail").GetString();
        detail.Should().Contain("admin").And.NotContain("billing", "only what is missing is named");
    }

    [Test]
    public async Task Who_may_call_is_decided_before_parameters_are_bound()
    {
        var app = App();
        app.Get("/items/{pk}", (Request req, Response res, int pk) => res.Text = $"{pk}").Requires("authenticated");
        await using var client = app.CreateClient();

        var anonymous = await SendAsync(client, HttpMethod.Get, "/items/x");
        var signedIn = await SendAsync(client, HttpMethod.Get, "/items/x", "ana");

        anonymous.StatusCode.Should().Be(HttpStatusCode.Unauthorized, "a stranger learns nothing about the route's parameters");
        signedIn.StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }

    [Test]
    public async Task A_routers_Requires_covers_every_route_it_includes_and_nothing_else()
    {
        var app = App();
        var admin = new Router();
        admin.Get("/stats", (req, res) => res.Text = "stats");
        var nested = new Router();
        nested.Get("/deep", (req, res) => res.Text = "deep");
        admin.IncludeRouter(nested, "/nested");
        admin.Requires("admin");
        app.IncludeRouter(admin, "/admin");
        app.Get("/", (req, res) => res.Text = "home");
        await using var client = app.CreateClient();

        (await SendAsync(client, HttpMethod.Get, "/admin/stats", "ana")).StatusCode.Should().Be(HttpStatusCode.Forbidden);
        (await SendAsync(client, HttpMethod.Get, "/admin/nested/deep")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await (await SendAsync(client, HttpMethod.Get, "/admin/nested/deep", "bo", "role=admin")).TextAsync()).Should().Be("deep");
        (await (await SendAsync(client, HttpMethod.Get, "/")).TextAsync()).Should().Be("home");
    }

    [Requires("authenticated")]
    public sealed class AccountView
    {
        public void Get(Request req, Response res) => res.Text = $"account of {req.User.Identity!.Name}";

        [Requires("admin")]
        public void Delete(Request req, Response res) => res.Text = "closed";
    }

    [Test]
    public async Task Requires_on_a_view_class_covers_its_methods_and_on_a_method_adds_to_it()
    {
        var app = App();
        app.Route<AccountView>("/account");
        await using var client = app.CreateClient();

        (await SendAsync(client, HttpMethod.Get, "/account")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await (await SendAsync(client, HttpMethod.Get, "/account", "ana")).TextAsync()).Should().Be("account of ana");
        (await SendAsync(client, HttpMethod.Delete, "/account", "ana")).StatusCode.Should().Be(HttpStatusCode.Forbidden);
        (await (await SendAsync(client, HttpMethod.Delete, "/account", "ana", "role=admin")).TextAsync()).Should().Be("closed");
    }

    public static class AdminRoutes
    {
        [Route("/purge/{days}", "POST"), Requires("admin")]
        public static void Purge(Request req, Response res, int days) => res.Text = $"purged {days}";
    }

    [Test]
    public async Task Requires_on_a_Route_method()
    {
        var app = App();
        app.Routes(typeof(AdminRoutes));
        await using var client = app.CreateClient();

        (await SendAsync(client, HttpMethod.Post, "/purge/7", "ana")).StatusCode.Should().Be(HttpStatusCode.Forbidden);
        (await (await SendAsync(client, HttpMethod.Post, "/purge/7", "ana", "role=admin")).TextAsync()).Should().Be("purged 7");
    }

    [Test]
    public void Requires_without_a_name_says_what_to_pass()
    {
        var app = App();
        var route = app.Get("/", (req, res) => res.Text = "");

        FluentActions.Invoking(() => route.Requires()).Should().Throw<ArgumentException>().WithMessage("*\"authenticated\"*");
        FluentActions.Invoking(() => route.Requires("read write")).Should().Throw<ArgumentException>().WithMessage("*one role or scope*");
        FluentActions.Invoking(() => route.Requires("admin\"")).Should().Throw<ArgumentException>().WithMessage("*no spaces or quotes*");
    }
}
