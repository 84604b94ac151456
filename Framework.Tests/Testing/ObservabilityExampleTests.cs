using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Testing;

/// <summary>Examples/Observability as a user runs it: OpenTelemetry's Prometheus exporter scraped for real.</summary>
public class ObservabilityExampleTests
{
    [Test]
    public async Task Prometheus_scrapes_the_request_histogram_with_the_route_label_and_spans_are_exported()
    {
        var metricsPort = TestApps.FreePort();
        await using var example = await ExampleProcess.StartAsync("Observability", new Dictionary<string, string> { ["METRICS_PORT"] = metricsPort.ToString() });
        using var http = new HttpClient { BaseAddress = new Uri(example.Url) };

        (await http.GetAsync("/")).EnsureSuccessStatusCode();
        (await http.GetAsync("/")).EnsureSuccessStatusCode();
        var scrape = "";
        for (var i = 0; i < 50 && !scrape.Contains("http_route=\"/\""); i++)
        {
            scrape = await http.GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics");
            await Task.Delay(100);
        }

        scrape.Should().MatchRegex("""http_server_request_duration_seconds_count\{[^}]*http_request_method="GET"[^}]*http_response_status_code="200"[^}]*http_route="/"[^}]*\} [1-9]""");
        scrape.Should().Contain("kestrel_", "Kestrel's own meters are exported beside Bocata's");
        (await http.GetStringAsync("/spans")).Should().MatchRegex("""\{"finished":[1-9][0-9]*\}""");
    }
}
