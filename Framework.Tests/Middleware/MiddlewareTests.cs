using System.Net;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Middleware;

public class MiddlewareTests
{
    private sealed class Timing(List<string> log) : Bocata.Middleware
    {
        public override Task<Response?> BeforeDispatchAsync(Request req, Response res)
        {
            log.Add("before");
            return Task.FromResult<Response?>(null);
        }

        public override Task AfterDispatchAsync(Request req, Response res)
        {
            log.Add($"after {res.StatusCode}");
            res.Headers["X-Timed"] = "yes";
            return Task.CompletedTask;
        }
    }

    private sealed class ApiKey : Bocata.Middleware
    {
        public override Task<Response?> BeforeDispatchAsync(Request req, Response res)
        {
            if (req.Headers["X-Key"] == "secret") return Task.FromResult<Response?>(null);
            res.StatusCode = 401;
            res.Text = "key required";
            return Task.FromResult<Response?>(res);
        }
    }

    private sealed class Thrower : Bocata.Middleware
    {
        public override Task<Response?> BeforeDispatchAsync(Request req, Response res) => throw new HttpError(429, "Slow down.");
    }

    [Test]
    public async Task After_dispatch_runs_after_the_handler_but_not_when_dispatch_raised()
    {
        var log = new List<string>();
        var app = TestApps.Quiet();
        app.AddMiddleware<Timing>(log);
        app.Route("/", (req, res) => { log.Add("handler"); res.Text = "ok"; });
        app.Route("/fail", (req, res) => throw new HttpError(400, "no"));
        await using var client = app.CreateClient();

        var ok = await client.GetAsync("/");
        var failed = await client.GetAsync("/fail");

        log.Should().Equal("before", "handler", "after 200", "before");
        ok.Headers.GetValues("X-Timed").Should().Equal("yes");
        failed.StatusCode.Should().Be(HttpStatusCode.BadRequest, "the error handlers still answer");
        failed.Headers.Contains("X-Timed").Should().BeFalse();
        var wrongMethod = await client.PostAsync("/", null);
        wrongMethod.StatusCode.Should().Be(HttpStatusCode.MethodNotAllowed);
        log.Should().Equal("before", "handler", "after 200", "before", "before");
    }

    [Test]
    public async Task Returning_a_response_from_before_dispatch_short_circuits()
    {
        var app = TestApps.Quiet();
        var ran = false;
        app.AddMiddleware<ApiKey>();
        app.Route("/", (req, res) => { ran = true; res.Text = "secret data"; });
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/");
        response.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await response.TextAsync()).Should().Be("key required");
        ran.Should().BeFalse();
    }

    [Test]
    public async Task Function_middleware_wraps_in_registration_order()
    {
        var app = TestApps.Quiet();
        var order = new List<string>();
        app.Use(async (req, res, next) => { order.Add("outer in"); await next(); order.Add("outer out"); });
        app.Use(async (req, res, next) => { order.Add("inner in"); await next(); order.Add("inner out"); res.Headers["X-Inner"] = "1"; });
        app.Route("/", (req, res) => order.Add("handler"));
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/");

        order.Should().Equal("outer in", "inner in", "handler", "inner out", "outer out");
        response.Headers.GetValues("X-Inner").Should().Equal("1");
    }

    [Test]
    public async Task Errors_raised_in_middleware_get_the_error_handlers()
    {
        var app = TestApps.Quiet();
        app.AddMiddleware<Thrower>();
        app.Route("/", (req, res) => res.Text = "never");
        await using var client = app.CreateClient();

        var response = await client.GetAsync("/");
        response.StatusCode.Should().Be(HttpStatusCode.TooManyRequests);
        (await response.TextAsync()).Should().Contain("Slow down.");
    }

    [Test]
    public async Task Allowed_hosts_rejects_other_host_headers()
    {
        var app = TestApps.Quiet(s => s.AllowedHosts = ["example.com", "*.example.org"]);
        app.Route("/", (req, res) => res.Text = "ok");
        await using var client = app.CreateClient();

        async Task<HttpStatusCode> WithHost(string host)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/");
            request.Headers.Host = host;
            return (await client.SendAsync(request)).StatusCode;
        }

        (await WithHost("example.com")).Should().Be(HttpStatusCode.OK);
        (await WithHost("api.example.org:8080")).Should().Be(HttpStatusCode.OK);
        (await WithHost("evil.com")).Should().Be(HttpStatusCode.BadRequest);
    }
}
