using System.Net;
using System.Net.WebSockets;
using Bocata.Testing;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using NUnit.Framework;
using static Bocata.Tests.Middleware.ErrorHandlingTests;

namespace Bocata.Tests.Routing;

/// <summary>Bocadillo fidelity (items 4 and 13, the sentinels): class views' Handle and empty views, a router's own mounts under
/// IncludeRouter, methods=all and caught_close_codes=all.</summary>
public class BocadilloViewsTests
{
    public sealed class HandleAndGet
    {
        public void Handle(Request req, Response res) => res.Text = $"handle {req.Method}";

        public void Get(Request req, Response res) => res.Text = "get";
    }

    public sealed class Empty;

    [Test]
    public async Task Handle_overrides_the_other_methods_of_a_view()
    {
        var app = TestApps.Quiet();
        app.Route<HandleAndGet>("/view");
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/view")).Should().Be("handle GET");
        (await (await client.PostAsync("/view", null)).TextAsync()).Should().Be("handle POST");
        (await (await client.DeleteAsync("/view")).TextAsync()).Should().Be("handle DELETE");
    }

    [Test]
    public async Task An_empty_view_registers_and_answers_405_to_every_method()
    {
        var app = TestApps.Quiet();
        app.Route<Empty>("/empty");
        await using var client = app.CreateClient();

        (await client.GetAsync("/empty")).StatusCode.Should().Be(HttpStatusCode.MethodNotAllowed);
        (await client.PostAsync("/empty", null)).StatusCode.Should().Be(HttpStatusCode.MethodNotAllowed);
        (await client.GetAsync("/elsewhere")).StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Test]
    public async Task A_routers_own_mount_survives_IncludeRouter_with_a_prefix()
    {
        var other = new App();
        other.Route("/foo", (req, res) => res.Text = $"other {req.PathBase} {req.Path}");
        var router = new Router();
        router.Route("/", (req, res) => res.Text = "tacos");
        router.Mount("/other", other);
        var app = TestApps.Quiet();
        app.IncludeRouter(router, prefix: "/tacos");
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/tacos/other/foo")).Should().Be("other /tacos/other /foo");
        (await client.GetStringAsync("/tacos/")).Should().Be("tacos");
    }

    [Test]
    public async Task Methods_All_answers_every_method()
    {
        var app = TestApps.Quiet();
        app.Route("/any", (req, res) => res.Text = req.Method, Methods.All);
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/any")).Should().Be("GET");
        (await (await client.PatchAsync("/any", null)).TextAsync()).Should().Be("PATCH");
        (await (await client.DeleteAsync("/any")).TextAsync()).Should().Be("DELETE");
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task CloseCodes_All_ends_the_handler_quietly_whatever_the_clients_close_code(bool all)
    {
        var logs = new ListLoggerProvider();
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var app = new App();
        app.Configure(s => { s.AccessLog = false; s.LoggerFactory = LoggerFactory.Create(b => b.AddProvider(logs)); });
        app.WebSocketRoute("/ws", async ws =>
        {
            try
            {
                while (true) await ws.ReceiveTextAsync();
            }
            finally
            {
                ended.TrySetResult();
            }
        }, caughtCloseCodes: all ? CloseCodes.All : null);
        await using var client = app.CreateClient();
        using var socket = await client.WebSocketConnectAsync("/ws");

        await socket.CloseAsync(WebSocketCloseStatus.InvalidMessageType, "bye", CancellationToken.None);
        await ended.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(100);

        lock (logs.Messages)
        {
            if (all) logs.Messages.Should().NotContain(m => m.StartsWith("Error"));
            else logs.Messages.Should().Contain(m => m.StartsWith("Error") && m.Contains("1003"));
        }
    }
}
