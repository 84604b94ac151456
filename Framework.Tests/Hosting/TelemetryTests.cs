using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Runtime.CompilerServices;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Hosting;

/// <summary>Metrics on Meter("Bocata") and traces on ActivitySource("Bocata"), as OpenTelemetry's HTTP conventions name them.</summary>
[NonParallelizable]
public class TelemetryTests
{
    private sealed record Measurement(string Instrument, double Value, Dictionary<string, object?> Tags);

    private static MeterListener Listen(ConcurrentQueue<Measurement> into)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "Bocata") l.EnableMeasurementEvents(instrument);
            },
        };
        void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var copy = new Dictionary<string, object?>();
            foreach (var tag in tags) copy[tag.Key] = tag.Value;
            into.Enqueue(new Measurement(instrument.Name, value, copy));
        }
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.Start();
        return listener;
    }

    /// <summary>Records every Bocata activity, as an exporter sampling all of them would.</summary>
    private static ActivityListener ListenToActivities(ConcurrentQueue<Activity> into)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Bocata",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = into.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }

    [Test]
    public async Task Request_duration_is_recorded_in_seconds_with_method_status_and_the_route_pattern()
    {
        var measurements = new ConcurrentQueue<Measurement>();
        using var listener = Listen(measurements);
        var app = TestApps.Quiet();
        app.Route("/items/{pk}", (Request req, Response res, int pk) => res.Json = new { pk });
        await using var client = app.CreateClient();

        (await client.GetAsync("/items/42")).StatusCode.Should().Be(HttpStatusCode.OK);
        (await client.GetAsync("/items/nope")).StatusCode.Should().Be(HttpStatusCode.BadRequest);

        var durations = measurements.Where(m => m.Instrument == "http.server.request.duration").ToList();
        durations.Should().Contain(m => (string?)m.Tags["http.route"] == "/items/{pk}" && (int?)m.Tags["http.response.status_code"] == 200 && (string?)m.Tags["http.request.method"] == "GET");
        durations.Should().Contain(m => (string?)m.Tags["http.route"] == "/items/{pk}" && (int?)m.Tags["http.response.status_code"] == 400);
        durations.Should().OnlyContain(m => m.Value > 0 && m.Value < 10, "seconds, not milliseconds");
        var active = measurements.Where(m => m.Instrument == "http.server.active_requests").Sum(m => m.Value);
        active.Should().Be(0, "every request that was counted in was counted out");
        measurements.Should().Contain(m => m.Instrument == "http.server.active_requests" && m.Value == 1);
    }

    [Test]
    public async Task With_a_trace_and_metrics_listened_to_the_duration_is_the_activitys_own()
    {
        var measurements = new ConcurrentQueue<Measurement>();
        using var meters = Listen(measurements);
        var activities = new ConcurrentQueue<Activity>();
        using var traces = ListenToActivities(activities);
        var app = TestApps.Quiet();
        app.Route("/slow", async (req, res) =>
        {
            await Task.Delay(150);
            res.Text = "late";
        });
        app.Route("/fast", (req, res) => res.Text = "now");
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/slow")).Should().Be("late");
        (await client.GetStringAsync("/fast")).Should().Be("now");
        await TestApps.UntilAsync(() => activities.Count >= 2);

        foreach (var route in new[] { "/slow", "/fast" })
        {
            var activity = activities.Single(a => (string?)a.GetTagItem("http.route") == route);
            var duration = measurements.Single(m => m.Instrument == "http.server.request.duration" && (string?)m.Tags["http.route"] == route);
            duration.Value.Should().Be(activity.Duration.TotalSeconds, $"{route}: one clock per request, the activity's");
        }
        measurements.Single(m => m.Instrument == "http.server.request.duration" && (string?)m.Tags["http.route"] == "/slow")
            .Value.Should().BeInRange(0.14, 10, "the handler waited 150 ms");
    }

    [Test]
    public async Task A_server_activity_continues_the_callers_traceparent_and_records_exceptions()
    {
        var activities = new ConcurrentQueue<Activity>();
        using var listener = ListenToActivities(activities);
        var app = TestApps.Quiet();
        app.Route("/orders/{id}", (Request req, Response res, int id) => res.Text = $"order {id}");
        app.Route("/boom", (req, res) => throw new InvalidOperationException("kaput"));
        await using var client = app.CreateClient();

        var traceId = ActivityTraceId.CreateRandom();
        var parentSpan = ActivitySpanId.CreateRandom();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/orders/7");
        request.Headers.Add("traceparent", $"00-{traceId}-{parentSpan}-01");
        (await client.SendAsync(request)).StatusCode.Should().Be(HttpStatusCode.OK);
        (await client.GetAsync("/boom")).StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        await TestApps.UntilAsync(() => activities.Count >= 2);

        var order = activities.Single(a => (string?)a.GetTagItem("http.route") == "/orders/{id}");
        order.Kind.Should().Be(ActivityKind.Server);
        order.TraceId.Should().Be(traceId);
        order.ParentSpanId.Should().Be(parentSpan);
        order.DisplayName.Should().Be("GET /orders/{id}");
        order.GetTagItem("http.response.status_code").Should().Be(200);

        var boom = activities.Single(a => (string?)a.GetTagItem("http.route") == "/boom");
        boom.Status.Should().Be(ActivityStatusCode.Error);
        boom.Events.Should().Contain(e => e.Name == "exception");
        boom.Parent.Should().BeNull("no traceparent: a new trace");
    }

    [Test]
    public async Task Inside_a_handler_the_request_activity_is_current_and_spans_nest_under_it()
    {
        var activities = new ConcurrentQueue<Activity>();
        using var listener = ListenToActivities(activities);
        using var appSource = new ActivitySource("Bocata");   // the app's own spans, on a source the listener hears
        var app = TestApps.Quiet();
        app.Route("/orders/{id}", (Request req, Response res, int id) =>
        {
            using (var span = appSource.StartActivity("load order")) span?.SetTag("order.id", id);
            res.Json = new { trace = Activity.Current?.TraceId.ToString(), span = Activity.Current?.SpanId.ToString() };
        });
        await using var client = app.CreateClient();

        var traceId = ActivityTraceId.CreateRandom();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/orders/3");
        request.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01");
        var body = System.Text.Json.JsonDocument.Parse(await (await client.SendAsync(request)).Content.ReadAsStringAsync()).RootElement;
        await TestApps.UntilAsync(() => activities.Count >= 2);

        var server = activities.Single(a => a.Kind == ActivityKind.Server);
        var child = activities.Single(a => a.OperationName == "load order");
        body.GetProperty("trace").GetString().Should().Be(traceId.ToString());
        body.GetProperty("span").GetString().Should().Be(server.SpanId.ToString(), "Activity.Current in the handler is the request's activity");
        child.ParentSpanId.Should().Be(server.SpanId);
        child.TraceId.Should().Be(traceId);
    }

    [Test]
    public async Task With_nobody_listening_no_activity_is_created()
    {
        using (var probe = new ActivitySource("Bocata"))
            Assume.That(probe.HasListeners(), Is.False, "a listener attached by another test is still alive");
        var app = TestApps.Quiet();
        app.Route("/", (req, res) => res.Text = Activity.Current is null ? "none" : $"current: {Activity.Current.OperationName}");
        await using var client = app.CreateClient();

        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add("traceparent", $"00-{ActivityTraceId.CreateRandom()}-{ActivitySpanId.CreateRandom()}-01");
        (await (await client.SendAsync(request)).Content.ReadAsStringAsync()).Should().Be("none");
    }

    [Test]
    public async Task Streams_events_hub_subscribers_and_websockets_are_counted()
    {
        var measurements = new ConcurrentQueue<Measurement>();
        using var listener = Listen(measurements);
        var hub = new EventHub();
        var app = TestApps.Quiet();
        app.Route("/feed", (req, res) => res.EventStream(hub.Subscribe(req)));
        app.WebSocketRoute("/echo", async ws =>
        {
            await foreach (var message in ws) await ws.SendTextAsync((string)message);
        });
        await using var client = app.CreateClient();

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var reading = client.EventsAsync("/feed", cancellationToken: cts.Token).TakeAsync(3);
        await TestApps.UntilAsync(() => hub.SubscriberCount == 1);
        for (var i = 0; i < 3; i++) hub.Publish(new ServerEvent(data: $"e{i}"));
        (await reading).Should().HaveCount(3);
        using (var ws = await client.WebSocketConnectAsync("/echo"))
        {
            await ws.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        }
        await TestApps.UntilAsync(() => hub.SubscriberCount == 0 && client.Server.OpenStreams == 0);
        await Task.Delay(100);

        double Sum(string name) => measurements.Where(m => m.Instrument == name).Sum(m => m.Value);
        Sum("bocata.sse.events_sent").Should().BeGreaterThanOrEqualTo(3);
        measurements.Should().Contain(m => m.Instrument == "bocata.sse.active_streams" && m.Value == 1);
        Sum("bocata.sse.active_streams").Should().Be(0);
        measurements.Should().Contain(m => m.Instrument == "bocata.hub.subscribers" && m.Value == 1);
        Sum("bocata.hub.subscribers").Should().Be(0);
        measurements.Should().Contain(m => m.Instrument == "bocata.websocket.connections" && m.Value == 1);
        Sum("bocata.websocket.connections").Should().Be(0);
    }

    [Test]
    public async Task The_metrics_reach_the_event_source_dotnet_counters_reads()
    {
        // dotnet-counters subscribes to the runtime's "System.Diagnostics.Metrics" EventSource over EventPipe; an
        // in-process EventListener turns on the same source with the same arguments and gets the same events.
        using var events = new MetricsEvents("Bocata");
        var app = TestApps.Quiet();
        app.Route("/items/{pk}", (Request req, Response res, int pk) => res.Json = new { pk });
        await using var client = app.CreateClient();
        events.WaitUntilListening();

        // Requests until refreshes (every 200 ms) have published both instruments: a histogram reports only intervals with
        // values, and on a busy machine the up-down counter can come a refresh later than the histogram.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!(events.Published.Any(e => e.Instrument == "http.server.request.duration" && e.Tags.Contains("http.route=/items/{pk}"))
                 && events.Published.Any(e => e.Instrument == "http.server.active_requests"))
               && DateTime.UtcNow < deadline)
        {
            (await client.GetAsync("/items/1")).EnsureSuccessStatusCode();
            await Task.Delay(50);
        }

        events.Published.Should().Contain(e => e.Instrument == "http.server.request.duration" && e.Unit == "s"
            && e.Tags.Contains("http.request.method=GET") && e.Tags.Contains("http.response.status_code=200"));
        events.Published.Should().Contain(e => e.Instrument == "http.server.active_requests");
    }

    private sealed record PublishedValue(string Instrument, string Unit, string Tags);

    /// <summary>Listens to "System.Diagnostics.Metrics" as dotnet-counters does: one session, one meter, 200 ms refresh.</summary>
    private sealed class MetricsEvents(string meter) : System.Diagnostics.Tracing.EventListener
    {
        private readonly string _session = Guid.NewGuid().ToString("N");
        private readonly ManualResetEventSlim _listening = new();

        public ConcurrentQueue<PublishedValue> Published { get; } = new();

        public void WaitUntilListening() => _listening.Wait(TimeSpan.FromSeconds(10)).Should().BeTrue("the metrics source starts a session");

        protected override void OnEventSourceCreated(System.Diagnostics.Tracing.EventSource source)
        {
            if (source.Name != "System.Diagnostics.Metrics") return;
            EnableEvents(source, System.Diagnostics.Tracing.EventLevel.Informational, (System.Diagnostics.Tracing.EventKeywords)0x3, new Dictionary<string, string?>
            {
                ["SessionId"] = _session,
                ["Metrics"] = meter,
                ["RefreshInterval"] = "0.2",
                ["MaxTimeSeries"] = "1000",
                ["MaxHistograms"] = "100",
            });
        }

        protected override void OnEventWritten(System.Diagnostics.Tracing.EventWrittenEventArgs e)
        {
            if (e.EventSource.Name != "System.Diagnostics.Metrics" || e.Payload is null || e.PayloadNames is null) return;
            string? Field(string name) => e.PayloadNames.IndexOf(name) is var i and >= 0 ? e.Payload[i]?.ToString() : null;
            if (Field("sessionId") != _session) return;
            if (e.EventName is "CollectionStart" or "TimeSeriesLimitReached" or "BeginInstrumentReporting") _listening.Set();
            if (e.EventName is "HistogramValuePublished" or "UpDownCounterRateValuePublished" or "CounterRateValuePublished"
                && Field("meterName") == meter)
                Published.Enqueue(new PublishedValue(Field("instrumentName") ?? "", Field("unit") ?? "", Field("tags") ?? ""));
        }

        public override void Dispose()
        {
            _listening.Dispose();
            base.Dispose();
        }
    }
}
