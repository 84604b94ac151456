using System.Diagnostics;
using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;

namespace Bocata.Benchmarks.Micro;

/// <summary>
/// What a listened-to request pays for in the runtime's diagnostics APIs, whatever the framework: a server activity
/// (bare, and with the five OpenTelemetry HTTP tags Bocata sets), a histogram measurement with three tags, the two
/// clock reads a duration needs.
/// The floor under the "listened" rows of Benchmarks/Load/telemetry.sh.
/// </summary>
[MemoryDiagnoser]
public class TelemetryBenchmarks
{
    private static readonly object Ok = 200;
    private readonly ActivitySource _source = new("Bocata.Benchmarks.Telemetry");
    private readonly Meter _meter = new("Bocata.Benchmarks.Telemetry");
    private ActivityListener _activities = null!;
    private MeterListener _meters = null!;
    private Histogram<double> _duration = null!;
    private long _sink;

    [GlobalSetup]
    public void Listen()
    {
        _duration = _meter.CreateHistogram<double>("http.server.request.duration", "s");
        _activities = new ActivityListener
        {
            ShouldListenTo = s => ReferenceEquals(s, _source),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => _sink += a.Duration.Ticks,
        };
        ActivitySource.AddActivityListener(_activities);
        _meters = new MeterListener { InstrumentPublished = (i, l) => { if (ReferenceEquals(i.Meter, _meter)) l.EnableMeasurementEvents(i); } };
        _meters.SetMeasurementEventCallback<double>((_, v, t, _) => _sink += t.Length);
        _meters.Start();
    }

    [Benchmark(Baseline = true)]
    public void BareActivity() => _source.StartActivity(ActivityKind.Server, default(ActivityContext), name: "GET")!.Dispose();

    [Benchmark]
    public void ActivityWithHttpTags()
    {
        var activity = _source.StartActivity(ActivityKind.Server, default(ActivityContext), name: "GET")!;
        activity.AddTag("http.request.method", "GET");
        activity.AddTag("url.path", "/plaintext");
        activity.AddTag("url.scheme", "http");
        activity.DisplayName = "GET /plaintext";
        activity.SetTag("http.route", "/plaintext");
        activity.SetTag("http.response.status_code", Ok);
        activity.Dispose();
    }

    [Benchmark]
    public void HistogramWithThreeTags() => _duration.Record(0.000_2, new TagList
    {
        { "http.request.method", "GET" },
        { "http.response.status_code", Ok },
        { "http.route", "/plaintext" },
    });

    [Benchmark]
    public double TwoClockReads() => Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp()).TotalSeconds;

    [GlobalCleanup]
    public void StopListening()
    {
        _activities.Dispose();
        _meters.Dispose();
        _meter.Dispose();
        _source.Dispose();
    }
}
