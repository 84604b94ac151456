using System.Security.Claims;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Sse;

/// <summary>hub.DisconnectAsync(user) on the in-memory hub, over real sockets.</summary>
public class DisconnectTests
{
    /// <summary>An app whose requests are signed in as <c>?user=</c> (what cookie or JWT sign-in sets), serving the hub's default
    /// topic at /events and two named topics at /rooms.</summary>
    internal static App UsersApp(EventHub hub)
    {
        var app = TestApps.Quiet();
        app.Use(async (req, res, next) =>
        {
            if (req.QueryParams["user"] is { Length: > 0 } user) req.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, user)], "test"));
            await next();
        });
        app.Route("/events", (req, res) => res.EventStream(hub.Subscribe(req)));
        app.Route("/rooms", (req, res) => res.EventStream(hub.Subscribe(req, "rooms/1", "rooms/2")));
        return app;
    }

    /// <summary>An open event stream read line by line.</summary>
    internal sealed class OpenStream : IDisposable
    {
        private readonly HttpResponseMessage _response;

        private OpenStream(HttpResponseMessage response, StreamReader reader)
        {
            _response = response;
            Reader = reader;
        }

        public StreamReader Reader { get; }

        public static async Task<OpenStream> OpenAsync(HttpClient http, string url)
        {
            var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            return new OpenStream(response, new StreamReader(await response.Content.ReadAsStreamAsync()));
        }

        /// <summary>The next <c>data:</c> line's value.</summary>
        public async Task<string> NextDataAsync()
        {
            while (true)
            {
                var line = await Reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20)) ?? throw new EndOfStreamException("The stream ended.");
                if (line.StartsWith("data: ", StringComparison.Ordinal)) return line[6..];
            }
        }

        /// <summary>What is left until the server ends the stream (throws if it does not within the deadline).</summary>
        public Task<string> RestAsync() => Reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(20));

        public void Dispose()
        {
            Reader.Dispose();
            _response.Dispose();
        }
    }

    [Test]
    public async Task Disconnect_ends_every_stream_of_the_user_and_no_other()
    {
        var hub = new EventHub();
        await using var client = UsersApp(hub).CreateClient();
        using var aliceFeed = await OpenStream.OpenAsync(client, "/events?user=alice");
        using var aliceRooms = await OpenStream.OpenAsync(client, "/rooms?user=alice");
        using var bob = await OpenStream.OpenAsync(client, "/events?user=bob");
        using var anonymous = await OpenStream.OpenAsync(client, "/events");
        await TestApps.UntilAsync(() => hub.SubscriberCount == 4);
        hub.SubscriberCount.Should().Be(4);

        var ended = await hub.DisconnectAsync("alice");

        ended.Should().Be(2);
        await aliceFeed.RestAsync();
        await aliceRooms.RestAsync();
        hub.Publish(new ServerEvent(data: "after"));
        (await bob.NextDataAsync()).Should().Be("after");
        (await anonymous.NextDataAsync()).Should().Be("after");
        (await hub.DisconnectAsync("alice")).Should().Be(0, "alice has no stream open any more");
        (await hub.DisconnectAsync("carol")).Should().Be(0);
    }

    [Test]
    public async Task A_user_can_open_a_new_stream_after_a_disconnect_and_resume()
    {
        var hub = new EventHub();
        await using var client = UsersApp(hub).CreateClient();
        using (var first = await OpenStream.OpenAsync(client, "/events?user=alice"))
        {
            await TestApps.UntilAsync(() => hub.SubscriberCount == 1);
            var before = hub.Publish(new ServerEvent(data: "before"));
            (await first.NextDataAsync()).Should().Be("before");
            (await hub.DisconnectAsync("alice")).Should().Be(1);
            await first.RestAsync();
            hub.Publish(new ServerEvent(data: "missed"));

            client.DefaultRequestHeaders.Add("Last-Event-ID", before.Id);
            using var again = await OpenStream.OpenAsync(client, "/events?user=alice");
            (await again.NextDataAsync()).Should().Be("missed", "a disconnected client resumes like any other");
        }
    }

    [Test]
    public void A_missing_user_name_is_refused()
    {
        var hub = new EventHub();
        FluentActions.Awaiting(() => hub.DisconnectAsync("")).Should().ThrowAsync<ArgumentException>().GetAwaiter().GetResult();
    }
}
