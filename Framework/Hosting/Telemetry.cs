using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Bocata;

/// <summary>
/// Bocata's metrics (<c>Meter("Bocata")</c>, OpenTelemetry HTTP semantic conventions) and traces (<c>ActivitySource("Bocata")</c>).
/// Every instrument is checked for a listener first: with nobody listening, a request pays a few field reads.
/// </summary>
internal static class Telemetry
{
    public const string Name = "Bocata";

    public static readonly Meter Meter = new(Name, typeof(Telemetry).Assembly.GetName().Version?.ToString(3));
    public static readonly ActivitySource Source = new(Name, typeof(Telemetry).Assembly.GetName().Version?.ToString(3));

    public static readonly Histogram<double> RequestDuration = Meter.CreateHistogram(
        "http.server.request.duration", unit: "s", description: "Duration of HTTP server requests.",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] });

    public static readonly UpDownCounter<long> ActiveRequests = Meter.CreateUpDownCounter<long>(
        "http.server.active_requests", unit: "{request}", description: "Number of active HTTP server requests.");

    public static readonly UpDownCounter<long> ActiveStreams = Meter.CreateUpDownCounter<long>(
        "bocata.sse.active_streams", unit: "{stream}", description: "Event streams open now.");

    public static readonly Counter<long> EventsSent = Meter.CreateCounter<long>(
        "bocata.sse.events_sent", unit: "{event}", description: "Server-sent events written to clients.");

    public static readonly UpDownCounter<long> HubSubscribers = Meter.CreateUpDownCounter<long>(
        "bocata.hub.subscribers", unit: "{subscriber}", description: "Live EventHub subscribers, all hubs.");

    public static readonly Counter<long> HubEvictions = Meter.CreateCounter<long>(
        "bocata.hub.evictions", unit: "{subscriber}", description: "EventHub subscribers disconnected because they could not keep up.");

    public static readonly UpDownCounter<long> WebSocketConnections = Meter.CreateUpDownCounter<long>(
        "bocata.websocket.connections", unit: "{connection}", description: "WebSocket connections open now.");

    /// <summary>True when anything listens to request metrics or traces: only then does a request take the measured path.</summary>
    public static bool RequestsObserved => RequestDuration.Enabled || ActiveRequests.Enabled || Source.HasListeners();

    /// <summary>Starts the request's server activity, continuing the caller's W3C <c>traceparent</c>/<c>tracestate</c> when valid.</summary>
    public static Activity? StartRequest(Request req)
    {
        if (!Source.HasListeners()) return null;
        var headers = req.Headers;
        var parent = default(ActivityContext);
        if (headers["traceparent"] is { } traceParent)
            ActivityContext.TryParse(traceParent, headers["tracestate"], isRemote: true, out parent);
        var activity = Source.StartActivity(ActivityKind.Server, parent, name: req.Method);
        if (activity is { IsAllDataRequested: true })
        {
            // A new activity has no tags yet: AddTag, no search for one to replace.
            activity.AddTag("http.request.method", req.Method);
            activity.AddTag("url.path", req.PathBase.Length == 0 ? req.Path : req.PathBase + req.Path);
            activity.AddTag("url.scheme", req.Context.Server.Settings.Certificate is null ? "http" : "https");
        }
        return activity;
    }

    // A status tag is an object: one boxed int per status code, not one per request.
    private static readonly object[] StatusBoxes = Enumerable.Range(0, 600).Select(static code => (object)code).ToArray();

    private static object BoxedStatus(int status) => (uint)status < (uint)StatusBoxes.Length ? StatusBoxes[status] : status;

    /// <summary>
    /// Ends the request: the activity gets its route and status, the duration histogram its measurement. With an activity
    /// the histogram takes the activity's own duration (one clock per request: reading the time is not free); without one,
    /// <paramref name="startTimestamp"/> (a <see cref="Stopwatch"/> timestamp) is the start.
    /// </summary>
    public static void EndRequest(Activity? activity, Request req, int status, long startTimestamp)
    {
        var route = req.Route;
        if (activity is not null)
        {
            if (route is not null)
            {
                activity.DisplayName = req.MatchedPattern!.DisplayName(req.Method, route);
                activity.SetTag("http.route", route);
            }
            activity.SetTag("http.response.status_code", BoxedStatus(status));
            if (status >= 500) activity.SetStatus(ActivityStatusCode.Error);
            activity.Dispose();
        }
        if (RequestDuration.Enabled)
        {
            var tags = new TagList
            {
                { "http.request.method", req.Method },
                { "http.response.status_code", BoxedStatus(status) },
            };
            if (route is not null) tags.Add("http.route", route);
            var elapsed = activity is null ? Stopwatch.GetElapsedTime(startTimestamp) : activity.Duration;
            RequestDuration.Record(Math.Max(0, elapsed.TotalSeconds), tags);
        }
    }
}
