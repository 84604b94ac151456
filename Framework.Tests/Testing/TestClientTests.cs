using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Testing;

/// <summary>The test client as a newcomer uses it: logged in once, streams opened before publishing, events named as on the wire.</summary>
public class TestClientTests
{
    [Test]
    public async Task A_logged_in_client_reads_a_private_stream_opened_before_the_first_publish()
    {
        var hub = new EventHub { Authorize = (req, topic) => topic == $"users/{req.Session.Get<string>("user")}" };
        var app = TestApps.Quiet(s =>
        {
            s.Sessions = true;
            s.SecretKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48));
        });
        app.Post("/login", (req, res) =>
        {
            req.Session.Set("user", "alice");
            res.StatusCode = 204;
        });
        app.Route("/events", (req, res) => res.EventStream(hub.Subscribe(req, "users/alice")));
        await using var client = app.CreateClient();

        (await client.GetAsync("/events")).StatusCode.Should().Be(System.Net.HttpStatusCode.Forbidden, "not logged in yet");
        (await client.PostAsync("/login", null)).EnsureSuccessStatusCode();
        // Opened: the handler ran and the subscription exists, so an event published now is not missed.
        await using var stream = await client.OpenEventsAsync("/events");
        hub.CountSubscribers("users/alice").Should().Be(1);
        hub.Publish("users/alice", new ServerEvent(name: "message", data: "hi"));
        hub.Publish("users/alice", new ServerEvent(data: "no name"));

        var events = await TestApps.TakeAsync(stream, 2);
        events.Select(e => (e.Name, e.Data)).Should().Equal(("message", "hi"), (null, "no name"));
        stream.Response.Content.Headers.ContentType!.MediaType.Should().Be("text/event-stream");
    }

    [Test]
    public async Task EventsAsync_takes_a_request_with_its_own_headers()
    {
        var app = TestApps.Quiet();
        app.Route("/echo", (req, res) => res.EventStream(Echo(req.Headers["X-Token"])));
        static async IAsyncEnumerable<ServerEvent> Echo(string? token)
        {
            await Task.Yield();
            yield return new ServerEvent(data: token ?? "none", id: "7");
        }
        await using var client = app.CreateClient();

        using var request = new HttpRequestMessage(HttpMethod.Get, "/echo") { Headers = { { "X-Token", "abc" } } };
        var events = await TestApps.TakeAsync(client.EventsAsync(request), 1);
        events.Single().Data.Should().Be("abc");
        events.Single().Id.Should().Be("7");
    }
}
