// What an OpenTelemetry SDK attaches, for the telemetry-overhead runs of both servers (Bocata and minimal APIs):
//   LISTEN=metrics  every instrument of the server's meter;
//   LISTEN=traces   a recorded activity for every request (OpenTelemetry's AlwaysOn sampler);
//   LISTEN=sampled  metrics, and traces under ParentBased(TraceIdRatioBased(0.1)), the usual production setup: an
//                   unsampled root request gets no activity at all (OpenTelemetry answers None, not PropagationData);
//   LISTEN=1|all    metrics and a recorded activity for every request.
// The callbacks do the least an exporter does: read each value.
using System.Diagnostics;
using System.Globalization;
using System.Diagnostics.Metrics;

internal static class Listeners
{
    private const double SampledRatio = 0.1;
    private static readonly long SampledBound = (long)(SampledRatio * long.MaxValue);
    private static long s_sum;

    public static void AttachFromEnvironment(string meterName, string sourceName)
    {
        var mode = Environment.GetEnvironmentVariable("LISTEN");
        switch (mode)
        {
            case null or "" or "0":
                return;
            case "metrics":
                AttachMetrics(meterName);
                return;
            case "traces":
                AttachTraces(sourceName, AlwaysOn);
                return;
            case "sampled":
                AttachMetrics(meterName);
                AttachTraces(sourceName, TenPercent);
                return;
            case "1" or "all":
                AttachMetrics(meterName);
                AttachTraces(sourceName, AlwaysOn);
                return;
            default:
                throw new ArgumentException($"LISTEN={mode}: use metrics, traces, sampled or all.");
        }
    }

    private static void AttachMetrics(string meterName)
    {
        var meters = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == meterName) l.EnableMeasurementEvents(instrument);
            },
        };
        meters.SetMeasurementEventCallback<double>((_, v, tags, _) => Interlocked.Add(ref s_sum, (long)(v * 1e6) + tags.Length));
        meters.SetMeasurementEventCallback<long>((_, v, tags, _) => Interlocked.Add(ref s_sum, v + tags.Length));
        meters.Start();
    }

    private static void AttachTraces(string sourceName, SampleActivity<ActivityContext> sample) =>
        ActivitySource.AddActivityListener(new ActivityListener
        {
            ShouldListenTo = source => source.Name == sourceName,
            Sample = sample,
            ActivityStopped = a => Interlocked.Add(ref s_sum, a.Duration.Ticks),
        });

    private static ActivitySamplingResult AlwaysOn(ref ActivityCreationOptions<ActivityContext> options) =>
        ActivitySamplingResult.AllDataAndRecorded;

    // ParentBased(TraceIdRatioBased): follow a remote parent's decision, else keep a trace when the first eight bytes of
    // its id fall under the ratio, as OpenTelemetry's sampler does. It reads them from the id's hex digits: a sampler that
    // copies the id's bytes out with ActivityTraceId.CopyTo measured 172 ns per StartActivity against 84 ns for this one,
    // a cost of the sampler, not of the server under test.
    private static ActivitySamplingResult TenPercent(ref ActivityCreationOptions<ActivityContext> options)
    {
        if (options.Parent.TraceId != default)
            return (options.Parent.TraceFlags & ActivityTraceFlags.Recorded) != 0 ? ActivitySamplingResult.AllDataAndRecorded : ActivitySamplingResult.PropagationData;
        var upper = long.Parse(options.TraceId.ToHexString().AsSpan(0, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        return (upper & long.MaxValue) < SampledBound ? ActivitySamplingResult.AllDataAndRecorded : ActivitySamplingResult.None;
    }
}
