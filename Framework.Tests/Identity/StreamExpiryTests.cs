using System.Diagnostics;
using System.Runtime.CompilerServices;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Identity;

/// <summary>An event stream ends with the credential it was opened with, so access never outlives what granted it.</summary>
public class StreamExpiryTests
{
    private static HttpRequestMessage Events(string path, string token, string? lastEventId = null)
    {
        var request = Tokens.Get(path, token);
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        return request;
    }

    [Test]
    public async Task A_hub_stream_ends_when_its_token_expires_and_a_fresh_token_resumes_it_losing_nothing()
    {
        var hub = new EventHub { Authorize = (req, topic) => topic == $"users/{req.User.Identity!.Name}" };
        var app = Tokens.App(configure: s => s.Jwt!.ClockSkew = TimeSpan.Zero);
        app.Get("/feed", (req, res) => res.EventStream(hub.Subscribe(req, $"users/{req.User.Identity!.Name}"))).Requires("authenticated");
        await using var client = app.CreateClient();
        // JWT lifetimes are whole seconds: this one has at least two left.
        var expires = DateTime.UtcNow.AddSeconds(3);
        var shortLived = Tokens.Issue("ana", expires: expires);

        var received = new List<string>();
        // Without an end at exp the stream would run forever: the guard turns that into a failure.
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var clock = Stopwatch.StartNew();
        await using (var stream = await client.OpenEventsAsync(Events("/feed", shortLived)))
        {
            hub.Publish("users/ana", new ServerEvent(data: "1"));
            await foreach (var e in stream.WithCancellation(guard.Token))
            {
                received.Add(e.Data!);
                if (e.Data == "1") hub.Publish("users/ana", new ServerEvent(data: "2"));
            }
        }
        var endedAfter = clock.Elapsed;
        var lastId = hub.LastSequence.ToString(System.Globalization.CultureInfo.InvariantCulture);
        hub.Publish("users/ana", new ServerEvent(data: "3"));
        hub.Publish("users/ana", new ServerEvent(data: "4"));
        var refused = await client.SendAsync(Events("/feed", shortLived));
        await using (var resumed = await client.OpenEventsAsync(Events("/feed", Tokens.Issue("ana"), lastId)))
        {
            await foreach (var e in resumed)
            {
                received.Add(e.Data!);
                if (received.Count == 4) break;
            }
        }

        endedAfter.Should().BeLessThan(TimeSpan.FromSeconds(6), "the stream ends at the token's exp (checked on the heartbeat, within a second)");
        refused.StatusCode.Should().Be(System.Net.HttpStatusCode.Unauthorized, "the expired token cannot reopen it");
        received.Should().Equal("1", "2", "3", "4");
    }

    private static async IAsyncEnumerable<ServerEvent> Ticks([EnumeratorCancellation] CancellationToken ct = default)
    {
        for (var i = 0; ; i++)
        {
            yield return new ServerEvent(data: $"{i}");
            await Task.Delay(100, ct);
        }
    }

    [Test]
    public async Task A_generator_stream_opened_with_a_sign_in_cookie_ends_with_the_cookie()
    {
        var app = TestApps.Quiet(s =>
        {
            s.AuthCookie = true;
            s.SecretKey = "0123456789abcdef0123456789abcdef-stream-secret";
        });
        app.Post("/login", (req, res) => res.SignIn(Tokens.User("ana"), TimeSpan.FromSeconds(3)));
        app.Get("/ticks", (req, res) => res.EventStream(Ticks(req.Aborted))).Requires("authenticated");
        app.Get("/open-ticks", (req, res) => res.EventStream(Ticks(req.Aborted)));
        await using var client = app.CreateClient();
        await client.PostAsync("/login", null);

        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var clock = Stopwatch.StartNew();
        var count = 0;
        await using (var stream = await client.OpenEventsAsync("/ticks"))
            await foreach (var _ in stream.WithCancellation(guard.Token)) count++;
        var endedAfter = clock.Elapsed;
        using var anonymousWait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var anonymous = 0;
        await using (var open = await client.OpenEventsAsync(new HttpRequestMessage(HttpMethod.Get, "/open-ticks")))
        {
            // The same client, still carrying the now expired cookie: an open route serves it anonymously, without end.
            await foreach (var _ in open.WithCancellation(anonymousWait.Token))
                if (++anonymous == 30) break;
        }

        endedAfter.Should().BeGreaterThan(TimeSpan.FromSeconds(1)).And.BeLessThan(TimeSpan.FromSeconds(6));
        count.Should().BeGreaterThan(5, "the stream ran until the cookie expired");
        anonymous.Should().Be(30);
    }

    [Test]
    public async Task A_WebSocket_opened_with_a_token_closes_with_1008_when_the_token_expires()
    {
        var app = Tokens.App(configure: s => s.Jwt!.ClockSkew = TimeSpan.Zero);
        app.WebSocketRoute("/ws", async ws =>
        {
            await ws.SendTextAsync($"hello {ws.User.Identity!.Name}");
            await foreach (var _ in ws)
            {
            }
        }).Requires("authenticated");
        await using var client = app.CreateClient();
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        var clock = Stopwatch.StartNew();
        using var socket = await client.WebSocketConnectAsync($"/ws?access_token={Tokens.Issue("ana", expires: DateTime.UtcNow.AddSeconds(3))}");
        var buffer = new byte[256];
        var hello = await socket.ReceiveAsync(buffer, guard.Token);
        var greeting = System.Text.Encoding.UTF8.GetString(buffer, 0, hello.Count);
        var close = await socket.ReceiveAsync(buffer, guard.Token);

        greeting.Should().Be("hello ana");
        close.MessageType.Should().Be(System.Net.WebSockets.WebSocketMessageType.Close);
        socket.CloseStatus.Should().Be(System.Net.WebSockets.WebSocketCloseStatus.PolicyViolation);
        socket.CloseStatusDescription.Should().Contain("expired");
        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(6));
    }
}
