// The TemperatureFeed routes with OpenTelemetry: Bocata's and Kestrel's metrics exported for Prometheus, Bocata's traces
// sampled and counted. Scrape http://127.0.0.1:9464/metrics (METRICS_PORT to change it) while using http://127.0.0.1:8000.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Bocata;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

var metricsPort = int.Parse(Environment.GetEnvironmentVariable("METRICS_PORT") ?? "9464");
using var metrics = Sdk.CreateMeterProviderBuilder()
    .AddMeter("Bocata", "Microsoft.AspNetCore.Server.Kestrel")
    .AddPrometheusHttpListener(o =>
    {
        o.Host = "127.0.0.1";
        o.Port = metricsPort;
    })
    .Build();
// Traces: any OpenTelemetry exporter goes here (OTLP to a collector, Jaeger, Zipkin...). This one counts finished spans.
var spans = new SpanCounter();
using var tracing = Sdk.CreateTracerProviderBuilder()
    .AddSource("Bocata")
    .AddProcessor(spans)
    .Build();

var app = new App();

app.Route("/temperature-feed", (req, res) =>
{
    res.EventStream(SendTemperatureData());

    async IAsyncEnumerable<ServerEvent> SendTemperatureData([EnumeratorCancellation] CancellationToken ct = default)
    {
        while (true)
        {
            var temperature = 10 + 2 * (2 * Random.Shared.NextDouble() - 1);
            yield return new ServerEvent(json: new { temperature });
            await Task.Delay(10, ct);
        }
    }
});

app.Route("/spans", (req, res) => res.Json = new { finished = spans.Count });

// Relative paths are found under the content root (the build output: the .csproj copies wwwroot there), from any directory.
app.Route("/", (req, res) => res.File("wwwroot/index.html", attach: false));
app.Mount("/assets", Static.Files("wwwroot"));

Console.WriteLine($"Metrics for Prometheus on http://127.0.0.1:{metricsPort}/metrics");
app.Run();

internal sealed class SpanCounter : BaseProcessor<Activity>
{
    private long _count;

    public long Count => Interlocked.Read(ref _count);

    public override void OnEnd(Activity data) => Interlocked.Increment(ref _count);
}
