using System.Runtime.CompilerServices;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Hosting;

/// <summary>How a running app stops: the "stopping" hook, then the drain, then "shutdown".</summary>
public class RunningAppTests
{
    [Test]
    public async Task Stopping_handlers_run_before_the_drain_while_requests_are_served_and_shutdown_handlers_after_the_server_stopped()
    {
        var app = TestApps.Quiet(s => s.ShutdownTimeout = TimeSpan.FromSeconds(30));
        var events = new List<string>();
        RunningApp? running = null;
        app.Route("/", (req, res) => res.Text = "served");
        app.Route("/feed", (req, res) => res.EventStream(Feed()));
        app.On("stopping", async () =>
        {
            using var http = new HttpClient();
            var answer = await http.GetStringAsync(running!.Url + "/");
            lock (events) events.Add($"stopping: {running.OpenStreams} stream(s) open, '/' {answer}");
        });
        app.On("shutdown", async () =>
        {
            using var http = new HttpClient();
            var refused = false;
            try
            {
                await http.GetStringAsync(running!.Url + "/");
            }
            catch (HttpRequestException)
            {
                refused = true;
            }
            lock (events) events.Add($"shutdown: refused {refused}");
        });
        running = await app.StartAsync("127.0.0.1", 0);
        using var client = new HttpClient();
        using var response = await client.GetAsync(running.Url + "/feed", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        (await reader.ReadLineAsync()).Should().Be("data: open");

        await running.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));

        events.Should().Equal("stopping: 1 stream(s) open, '/' served", "stream ended", "shutdown: refused True");

        async IAsyncEnumerable<ServerEvent> Feed([EnumeratorCancellation] CancellationToken ct = default)
        {
            yield return new ServerEvent(data: "open");
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            finally
            {
                lock (events) events.Add("stream ended");
            }
        }
    }

    [Test]
    public async Task A_failing_stopping_handler_does_not_prevent_the_stop()
    {
        var app = TestApps.Quiet();
        var shutdown = false;
        app.On("stopping", () => throw new InvalidOperationException("load balancer unreachable"));
        app.On("shutdown", () => shutdown = true);
        var running = await app.StartAsync("127.0.0.1", 0);

        await running.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));

        shutdown.Should().BeTrue();
    }
}
