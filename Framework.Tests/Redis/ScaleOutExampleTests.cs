using System.Diagnostics;
using System.Net;
using System.Net.ServerSentEvents;
using System.Net.Sockets;
using Bocata.Tests.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Redis;

/// <summary>Examples/ScaleOut as a user runs it: two instances on Redis behind a real nginx (round-robin, no sticky sessions).</summary>
[NonParallelizable]
public class ScaleOutExampleTests
{
    private const string Nginx = "/usr/sbin/nginx";

    private readonly Dictionary<string, ExampleProcess> _instances = [];
    private Dictionary<string, string> _environment = null!;
    private ExampleNginx? _nginx;
    private HttpClient? _http;

    private HttpClient Http => _http!;

    /// <summary>Instances a and b of Examples/ScaleOut on the shared Redis (a hub of the test's own) behind the example's nginx,
    /// and a client through nginx once it answers.</summary>
    [SetUp]
    public async Task StartTwoInstancesBehindNginx()
    {
        if (!File.Exists(Nginx)) Assert.Ignore($"nginx is not installed at {Nginx} (apt-get install -y nginx-light; .ci/run installs it).");
        var redis = await RedisServer.SharedAsync();
        _environment = new Dictionary<string, string> { ["REDIS"] = redis.Endpoint, ["TOPIC"] = RedisServer.Topic() };
        try
        {
            foreach (var instance in new[] { "a", "b" }) _instances[instance] = await StartInstanceAsync(instance, port: 0);
            _nginx = ExampleNginx.Start(new Uri(_instances["a"].Url).Port, new Uri(_instances["b"].Url).Port);
            _http = new HttpClient { BaseAddress = _nginx.Url };
            await TestApps.WaitForServerAsync(_http);
        }
        catch
        {
            await StopAllAsync();
            throw;
        }
    }

    [TearDown]
    public async Task StopAllAsync()
    {
        _http?.Dispose();
        _http = null;
        if (_nginx is not null) await _nginx.DisposeAsync();
        _nginx = null;
        foreach (var instance in _instances.Values) await instance.DisposeAsync();
        _instances.Clear();
    }

    /// <summary>Examples/ScaleOut as instance <paramref name="instance"/> on <paramref name="port"/> (0: a free one).</summary>
    private Task<ExampleProcess> StartInstanceAsync(string instance, int port) =>
        ExampleProcess.StartAsync("ScaleOut", new Dictionary<string, string>(_environment) { ["INSTANCE"] = instance, ["PORT"] = port.ToString() });

    /// <summary>Starts <paramref name="instance"/> again on its port (after it was killed): nginx sends it requests again.</summary>
    private async Task RestartAsync(string instance)
    {
        var port = new Uri(_instances[instance].Url).Port;
        await _instances[instance].DisposeAsync();
        _instances[instance] = await StartInstanceAsync(instance, port);
    }

    [Test]
    public async Task A_client_keeps_every_event_in_order_when_its_instance_is_killed()
    {
        (await Http.GetStringAsync("/")).Should().Contain("EventSource", "the page is served through nginx");

        var (readings, servedBy, killed) = await ReadAcrossFailoverAsync(Http, "/temperature-feed", _instances);
        var ids = readings.Select(r => r.Id).ToList();

        killed.Should().BeTrue();
        servedBy.Should().HaveCountGreaterThanOrEqualTo(2, "the client reconnected after its instance died");
        servedBy.Last().Should().NotBe(servedBy.First(), "the survivor serves the reconnect");
        // Each reading is published to the default topic and to its instance's topic: the feed's ids skip the topics'
        // numbers, so every event is each instance's readings without a gap, in one increasing order of ids.
        ids.Should().BeInAscendingOrder().And.OnlyHaveUniqueItems("in order, none twice, across the failover");
        foreach (var group in readings.GroupBy(r => r.Instance))
        {
            var numbers = group.Select(r => r.Reading).ToList();
            numbers.Zip(numbers.Skip(1)).Should().AllSatisfy(p => p.Second.Should().Be(p.First + 1, $"every reading of {group.Key}, across the failover"));
        }
    }

    [Test]
    public async Task After_one_instance_restarts_and_the_other_dies_every_new_stream_still_gets_200()
    {
        // The chaos run's sequence: kill A, restart it, let streams reach it, kill B. With nginx's passive failure marks,
        // A stayed "failed" (its mark clears only when a request completes; an event stream never does), so every client
        // got 502 "no live upstreams", which EventSource treats as fatal.
        var open = new List<HttpResponseMessage>();
        try
        {
            await _instances["a"].KillAsync();
            for (var i = 0; i < 4; i++) open.Add(await Http.GetAsync("/temperature-feed", HttpCompletionOption.ResponseHeadersRead));
            open.Should().AllSatisfy(r => r.StatusCode.Should().Be(HttpStatusCode.OK, "B serves while A is down"));
            await RestartAsync("a");
            // Past nginx's fail_timeout, streams reach A again and stay open.
            await Task.Delay(TimeSpan.FromSeconds(6));
            for (var i = 0; i < 6; i++) open.Add(await Http.GetAsync("/temperature-feed", HttpCompletionOption.ResponseHeadersRead));

            await _instances["b"].KillAsync();
            var statuses = new List<(HttpStatusCode Status, string? Instance)>();
            for (var i = 0; i < 10; i++)
            {
                using var response = await Http.GetAsync("/temperature-feed", HttpCompletionOption.ResponseHeadersRead);
                statuses.Add((response.StatusCode, response.Headers.TryGetValues("X-Instance", out var v) ? v.Single() : null));
            }
            statuses.Should().AllSatisfy(s => s.Should().Be((HttpStatusCode.OK, "a"), "the restarted instance serves every new stream"));
        }
        finally
        {
            foreach (var response in open) response.Dispose();
        }
    }

    [Test]
    public async Task A_stream_of_two_topics_keeps_every_reading_of_each_in_order_when_its_instance_is_killed()
    {
        // An EventSource on both instances' topics.
        var (readings, servedBy, killed) = await ReadAcrossFailoverAsync(Http, "/sensors?topic=sensors/a&topic=sensors/b", _instances);

        killed.Should().BeTrue();
        servedBy.Last().Should().NotBe(servedBy.First(), "the survivor serves the reconnect");
        readings.Select(r => r.Id).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems("one order across both topics, none twice");
        foreach (var group in readings.GroupBy(r => r.Instance))
        {
            var numbers = group.Select(r => r.Reading).ToList();
            numbers.Zip(numbers.Skip(1)).Should().AllSatisfy(p => p.Second.Should().Be(p.First + 1, $"every reading of sensors/{group.Key}, in order, across the failover"));
        }
        readings.Select(r => r.Instance).Distinct().Should().HaveCount(2);
    }

    /// <summary>
    /// An EventSource's behaviour through nginx: reads <paramref name="path"/> and, on any end, reconnects with the last id seen,
    /// until 60 events; after the 20th it kills the instance serving the stream. Each event's id and its data's instance and
    /// reading, which instance served each connection, and whether the kill happened.
    /// </summary>
    private static async Task<(List<(long Id, string Instance, long Reading)> Readings, List<string> ServedBy, bool Killed)> ReadAcrossFailoverAsync(
        HttpClient http, string path, Dictionary<string, ExampleProcess> instances)
    {
        var readings = new List<(long Id, string Instance, long Reading)>();
        var servedBy = new List<string>();
        string? lastId = null;
        var killed = false;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (readings.Count < 60)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, path);
                if (lastId is not null) request.Headers.Add("Last-Event-ID", lastId);
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    await Task.Delay(100, cts.Token);
                    continue;
                }
                var instance = response.Headers.GetValues("X-Instance").Single();
                servedBy.Add(instance);
                await using var stream = await response.Content.ReadAsStreamAsync(cts.Token);
                await foreach (var item in SseParser.Create(stream).EnumerateAsync(cts.Token))
                {
                    using (var json = System.Text.Json.JsonDocument.Parse(item.Data))
                        readings.Add((long.Parse(item.EventId!), json.RootElement.GetProperty("instance").GetString()!, json.RootElement.GetProperty("reading").GetInt64()));
                    lastId = item.EventId;
                    if (readings.Count == 20 && !killed)
                    {
                        killed = true;
                        await instances[instance].KillAsync();
                    }
                    if (readings.Count >= 60) break;
                }
            }
            catch (Exception e) when (e is HttpRequestException or IOException && !cts.IsCancellationRequested)
            {
                await Task.Delay(100, cts.Token);
            }
        }
        return (readings, servedBy, killed);
    }

    /// <summary>Examples/ScaleOut's nginx.conf in front of two instances, on a free port, in a folder of its own.</summary>
    private sealed class ExampleNginx : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly string _dir;

        private ExampleNginx(Process process, string dir, int port)
        {
            _process = process;
            _dir = dir;
            Url = new Uri($"http://127.0.0.1:{port}");
        }

        public Uri Url { get; }

        public static ExampleNginx Start(int portA, int portB)
        {
            var dir = Directory.CreateTempSubdirectory("bocata-scaleout").FullName;
            var port = TestApps.FreePort();
            var conf = File.ReadAllText(Path.Combine(TestApps.Root, "Examples", "ScaleOut", "nginx.conf"))
                .Replace("__DIR__", dir).Replace("__PORT_A__", portA.ToString()).Replace("__PORT_B__", portB.ToString()).Replace("__PORT__", port.ToString());
            File.WriteAllText(Path.Combine(dir, "nginx.conf"), conf);
            var process = Process.Start(new ProcessStartInfo(Nginx, ["-c", Path.Combine(dir, "nginx.conf"), "-p", dir, "-g", "daemon off; master_process off;"]) { RedirectStandardError = true })!;
            return new ExampleNginx(process, dir, port);
        }

        public async ValueTask DisposeAsync()
        {
            _process.Kill();
            await _process.WaitForExitAsync();
            _process.Dispose();
            Directory.Delete(_dir, recursive: true);
        }
    }
}
