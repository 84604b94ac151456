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
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        var first = await client.EventsAsync("/feed", cancellationToken: stop.Token).FirstAsync(stop.Token);

        first.Name.Should().Be("tick");
        first.Data.Should().Contain("\"count\":1");
    }
#endif
}
