using System.Net;
using System.Net.WebSockets;
using Bocata.Testing;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using NUnit.Framework;
using static Bocata.Tests.Middleware.ErrorHandlingTests;

namespace Bocata.Tests.WebSockets;

/// <summary>A refused handshake says why in the server log (a browser cannot read the 403's body), once per origin per minute,
/// with memory bounded whatever origins a client makes up.</summary>
public class HandshakeRefusalsTests
{
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks = TimeSpan.TicksPerDay;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }

    private static async Task<HttpStatusCode> HandshakeAsync(Uri server, string path, string? origin)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (origin is not null) socket.Options.SetRequestHeader("Origin", origin);
        try
        {
            await socket.ConnectAsync(new Uri($"ws://{server.Authority}{path}"), CancellationToken.None);
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }
        catch (WebSocketException)
        {
        }
        return socket.HttpStatusCode;
    }

    private static List<string> Warnings(ListLoggerProvider logs)
    {
        lock (logs.Messages) return [.. logs.Messages.Where(m => m.StartsWith("Warning WebSocket handshake", StringComparison.Ordinal))];
    }

    [Test]
    public async Task A_refused_handshake_logs_its_reason_at_warning_once_per_origin_per_minute()
    {
        var logs = new ListLoggerProvider();
        var clock = new ManualClock();
        var app = TestApps.Quiet(s =>
        {
            s.Clock = clock;
            s.LoggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));
        });
        app.WebSocketRoute("/ws", async ws => await ws.SendTextAsync("hi"));
        app.WebSocketRoute("/members", async ws => await ws.RejectAsync("You are not a member of this room."), autoAccept: false);
        await using var client = app.CreateClient();
        var server = client.BaseAddress!;

        for (var i = 0; i < 3; i++) (await HandshakeAsync(server, "/ws", "http://127.0.0.1:7610")).Should().Be(HttpStatusCode.Forbidden);
        var origin = Warnings(logs).Should().ContainSingle().Subject;
        origin.Should().Contain("/ws").And.Contain("http://127.0.0.1:7610").And.Contain("403")
            .And.Contain("not this app's own origin").And.Contain("Host $http_host");

        (await HandshakeAsync(server, "/missing", "https://other.example")).Should().Be(HttpStatusCode.Forbidden);
        Warnings(logs).Should().HaveCount(2).And.Subject.Last().Should().Contain("https://other.example").And.Contain("No WebSocket endpoint here.");
        (await HandshakeAsync(server, "/members", null)).Should().Be(HttpStatusCode.Forbidden);
        Warnings(logs).Should().HaveCount(3).And.Subject.Last().Should().Contain("(none)").And.Contain("You are not a member of this room.");
        (await HandshakeAsync(server, "/ws", $"http://{server.Authority}")).Should().Be(HttpStatusCode.SwitchingProtocols, "an accepted handshake logs nothing");
        Warnings(logs).Should().HaveCount(3);

        clock.Advance(TimeSpan.FromSeconds(61));
        (await HandshakeAsync(server, "/ws", "http://127.0.0.1:7610")).Should().Be(HttpStatusCode.Forbidden);
        Warnings(logs).Should().HaveCount(4).And.Subject.Last().Should().Contain("2 more refused from this origin since it was last logged");
    }

    [Test]
    public async Task A_handshake_whose_upgrade_a_proxy_dropped_gets_426_that_points_to_the_proxy_and_is_logged()
    {
        var logs = new ListLoggerProvider();
        var app = TestApps.Quiet(s => s.LoggerFactory = LoggerFactory.Create(b => b.AddProvider(logs)));
        app.WebSocketRoute("/ws", async ws => await ws.SendTextAsync("hi"));
        await using var client = app.CreateClient();

        // What nginx forwards without `proxy_set_header Upgrade`: the handshake's own headers, no Upgrade.
        using var request = new HttpRequestMessage(HttpMethod.Get, "/ws");
        request.Headers.Add("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        request.Headers.Add("Sec-WebSocket-Version", "13");
        using var response = await client.SendAsync(request);
        response.StatusCode.Should().Be(HttpStatusCode.UpgradeRequired);
        var detail = (await response.JsonAsync()).GetProperty("detail").GetString();
        detail.Should().Contain("A proxy in between may have dropped the Upgrade header").And.Contain("deployment guide");
        Warnings(logs).Should().ContainSingle().Which.Should().Contain("426");

        using var plain = await client.GetAsync("/ws");
        plain.StatusCode.Should().Be(HttpStatusCode.UpgradeRequired);
        Warnings(logs).Should().HaveCount(1, "a plain GET (a browser's address bar) is not a handshake: nothing to warn about");
    }

    [Test]
    public void A_flood_of_made_up_origins_remembers_a_bounded_number_and_still_logs_once_a_minute()
    {
        var logs = new ListLoggerProvider();
        var clock = new ManualClock();
        var refusals = new HandshakeRefusals(LoggerFactory.Create(b => b.AddProvider(logs)).CreateLogger("Bocata"), clock);

        for (var i = 0; i < 5000; i++) refusals.Refused($"https://{i}.evil.example", "/ws", 403, "not allowed");
        refusals.Remembered.Should().Be(HandshakeRefusals.MaxOrigins);
        Warnings(logs).Should().HaveCount(HandshakeRefusals.MaxOrigins + 1, "each remembered origin once, then one line for all the others");
        Warnings(logs).Last().Should().Contain("too many origins to tell apart");

        refusals.Refused(new string('x', 100_000), "/ws", 403, "not allowed");
        refusals.Remembered.Should().Be(HandshakeRefusals.MaxOrigins, "a long origin is not kept either");

        clock.Advance(TimeSpan.FromMinutes(1));
        refusals.Refused("https://new.example", "/ws", 403, "not allowed");
        Warnings(logs).Last().Should().Contain("https://new.example", "origins a minute old are forgotten to make room");
        refusals.Remembered.Should().Be(1);
    }
}
