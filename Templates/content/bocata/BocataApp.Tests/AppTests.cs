#if (auth)
using System.Net;
using System.Net.Http.Json;
#endif
using Bocata.Testing;
using BocataApp;
using FluentAssertions;
using NUnit.Framework;

namespace BocataApp.Tests;

/// <summary>The app on a real socket, built by the same factory Program.cs runs.</summary>
public class AppTests
{
    [Test]
    public async Task Greets_by_name()
    {
        await using var client = AppFactory.Create(s => s.AccessLog = false).CreateClient();

        (await client.GetStringAsync("/hello/ana")).Should().Be("""{"greeting":"Hello, ana!"}""");
    }
#if (sse)

    [Test]
    public async Task The_feed_streams_ticks()
    {
        await using var client = AppFactory.Create(s => s.AccessLog = false).CreateClient();
#if (auth)
        (await client.PostAsJsonAsync("/login", new { name = "demo", password = "change-me-now" })).EnsureSuccessStatusCode();
#endif
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        var first = await client.EventsAsync("/feed", cancellationToken: stop.Token).FirstAsync(stop.Token);

        first.Name.Should().Be("tick");
        first.Data.Should().Contain("\"count\":1");
    }
#endif
#if (auth)

    [Test]
    public async Task Signing_in_needs_the_right_password_and_signing_out_ends_it()
    {
        await using var client = AppFactory.Create(s => s.AccessLog = false).CreateClient();

        (await client.GetAsync("/me")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await client.PostAsJsonAsync("/login", new { name = "demo", password = "wrong-password" })).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await client.PostAsJsonAsync("/login", new { name = "demo" })).StatusCode.Should().Be(HttpStatusCode.BadRequest);

        (await client.PostAsJsonAsync("/login", new { name = "demo", password = "change-me-now" })).StatusCode.Should().Be(HttpStatusCode.OK);
        (await client.GetStringAsync("/me")).Should().Be("""{"name":"demo"}""");

        (await client.PostAsync("/logout", null)).StatusCode.Should().Be(HttpStatusCode.NoContent);
        (await client.GetAsync("/me")).StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }
#if (sse)

    [Test]
    public async Task The_feed_is_for_signed_in_users_only()
    {
        await using var client = AppFactory.Create(s => s.AccessLog = false).CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/feed");
        request.Headers.Accept.ParseAdd("text/event-stream");

        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);

        response.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
    }
#endif
#endif
}
