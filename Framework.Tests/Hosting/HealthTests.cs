using System.Net;
using Bocata.Testing;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace Bocata.Tests.Hosting;

/// <summary>app.Health and app.Ready: the probes an orchestrator asks, over real sockets.</summary>
public class HealthTests
{
    [Test]
    public async Task Liveness_and_readiness_answer_200_while_serving_and_readiness_names_a_failing_check()
    {
        var app = TestApps.Quiet();
        var databaseUp = true;
        app.Health();
        app.Ready("database", () => databaseUp);
        app.Ready("cache", _ => Task.FromResult(true));
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/healthz")).Should().Be("""{"status":"alive"}""");
        using (var ready = await client.GetAsync("/readyz"))
        {
            ready.StatusCode.Should().Be(HttpStatusCode.OK);
            (await ready.TextAsync()).Should().Be("""{"status":"ready"}""");
            ready.Headers.CacheControl!.NoStore.Should().BeTrue();
        }

        databaseUp = false;
        using (var notReady = await client.GetAsync("/readyz"))
        {
            notReady.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
            (await notReady.TextAsync()).Should().Be("""{"error":"503 Service Unavailable","status":503,"detail":{"database":"not ready"}}""");
        }
        (await client.GetAsync("/healthz")).StatusCode.Should().Be(HttpStatusCode.OK, "a failing dependency does not make the process dead");

        databaseUp = true;
        (await client.GetAsync("/readyz")).StatusCode.Should().Be(HttpStatusCode.OK);
    }

    [Test]
    public async Task Readiness_fails_once_a_stop_begins_while_liveness_still_answers()
    {
        var app = TestApps.Quiet();
        app.Health("/live", "/ready");
        RunningApp? running = null;
        var seen = new List<string>();
        app.On("stopping", async () =>
        {
            using var http = new HttpClient();
            using var ready = await http.GetAsync(running!.Url + "/ready");
            using var live = await http.GetAsync(running.Url + "/live");
            seen.Add($"ready {(int)ready.StatusCode} {await ready.TextAsync()}");
            seen.Add($"live {(int)live.StatusCode}");
        });
        running = await app.StartAsync("127.0.0.1", 0);
        using (var http = new HttpClient())
            (await http.GetAsync(running.Url + "/ready")).StatusCode.Should().Be(HttpStatusCode.OK);

        await running.StopAsync().WaitAsync(TimeSpan.FromSeconds(20));

        seen.Should().Equal("""ready 503 {"error":"503 Service Unavailable","status":503,"detail":{"app":"stopping"}}""", "live 200");
    }

    [Test]
    public async Task Readiness_fails_while_a_hubs_backplane_cannot_confirm_publishes()
    {
        var backplane = new SwitchableBackplane();
        var hub = new EventHub(backplane: backplane);
        var app = TestApps.Quiet();
        app.Health();
        app.Ready("events", hub);
        await using var client = app.CreateClient();
        (await client.GetAsync("/readyz")).StatusCode.Should().Be(HttpStatusCode.OK);

        backplane.Problem = "the store is unreachable";
        using var notReady = await client.GetAsync("/readyz");

        notReady.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        (await notReady.JsonAsync()).GetProperty("detail").GetProperty("events").GetString().Should().Be("the store is unreachable");
    }

    [Test]
    public async Task A_check_that_throws_or_hangs_is_not_ready_without_its_exception_in_the_body()
    {
        var app = TestApps.Quiet();
        app.Health();
        app.Ready("throws", () => throw new InvalidOperationException("password=hunter2"));
        app.Ready("hangs", async ct =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return true;
        });
        await using var client = app.CreateClient();

        using var notReady = await client.GetAsync("/readyz");

        notReady.StatusCode.Should().Be(HttpStatusCode.ServiceUnavailable);
        var text = await notReady.TextAsync();
        text.Should().Contain("\"throws\":\"failed (see the log)\"").And.Contain("\"hangs\":\"timed out after 2 s\"").And.NotContain("hunter2");
    }

    [Test]
    public async Task Successful_probes_stay_out_of_the_access_log_and_failing_ones_are_logged()
    {
        var logs = new Middleware.ErrorHandlingTests.ListLoggerProvider();
        var app = new App();
        app.Configure(s =>
        {
            s.StaticDir = null;
            s.LoggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));
        });
        var up = true;
        app.Health();
        app.Ready("database", () => up);
        app.Route("/", (req, res) => res.Text = "hi");
        await using (var client = app.CreateClient())
        {
            await client.GetAsync("/healthz");
            await client.GetAsync("/readyz");
            up = false;
            await client.GetAsync("/readyz");
            await client.GetAsync("/");
        }

        lock (logs.Messages)
        {
            logs.Messages.Should().Contain(m => m.Contains("GET / 200")).And.Contain(m => m.Contains("GET /readyz 503"));
            logs.Messages.Should().NotContain(m => m.Contains("GET /healthz")).And.NotContain(m => m.Contains("GET /readyz 200"));
        }
    }

    [Test]
    public void Misuse_is_explained()
    {
        var app = TestApps.Quiet();
        app.Ready("database", () => true);
        FluentActions.Invoking(() => app.Ready("database", () => true)).Should().Throw<ArgumentException>().WithMessage("*already named 'database'*");
        FluentActions.Awaiting(() => app.StartAsync("127.0.0.1", 0)).Should().ThrowAsync<InvalidOperationException>().WithMessage("*call app.Health()*").GetAwaiter().GetResult();

        var twice = TestApps.Quiet();
        twice.Health();
        FluentActions.Invoking(() => twice.Health()).Should().Throw<InvalidOperationException>().WithMessage("*once*");
        FluentActions.Invoking(() => TestApps.Quiet().Health("/same", "/same")).Should().Throw<ArgumentException>().WithMessage("*different paths*");
    }

    /// <summary>A backplane that numbers in process and can say it is unavailable.</summary>
    private sealed class SwitchableBackplane : IEventBackplane
    {
        private long _last;
        private IEventBackplaneSink? _sink;

        public string? Problem { get; set; }

        public string? Unavailable => Problem;

        public long Attach(IEventBackplaneSink sink)
        {
            _sink = sink;
            return 0;
        }

        public Task<long> PublishAsync(ServerEvent evt, CancellationToken cancellationToken = default)
        {
            var seq = ++_last;
            _sink!.Deliver(seq, evt);
            return Task.FromResult(seq);
        }

        public Task<IReadOnlyList<BackplaneEvent>> ReadAsync(long from, long to, CancellationToken cancellationToken = default) =>
            Task.FromResult<IReadOnlyList<BackplaneEvent>>([]);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
