// The TemperatureFeed page (its wwwroot, linked) served by several instances behind a load balancer: one EventHub across them on Redis.
// Each instance publishes its own readings; every browser sees every reading, in one order, whichever instance it reached,
// and keeps its place (Last-Event-ID) when it is moved to another instance. Start two with nginx: bash Examples/ScaleOut/run.sh
using Bocata;
using Bocata.Redis;

var instance = Environment.GetEnvironmentVariable("INSTANCE") ?? Environment.MachineName;
var startedAt = DateTime.UtcNow.Ticks; // keys stay unique across restarts of this instance
var redis = Environment.GetEnvironmentVariable("REDIS") ?? "127.0.0.1:6379";
var hub = new EventHub(replay: 1000, backplane: await RedisBackplane.ConnectAsync(redis, topic: Environment.GetEnvironmentVariable("TOPIC") ?? "temperatures"));

var app = new App();

app.Route("/temperature-feed", (req, res) =>
{
    res.Headers["X-Instance"] = instance;
    res.EventStream(hub.Subscribe(req));
});

// Topics: each instance's readings also go to its own topic, "sensors/<instance>", which only the instances with a
// stream of it receive. One stream reads several: /sensors?topic=sensors/a&topic=sensors/b (ids in one order; a
// Last-Event-ID resumes every topic on any instance).
app.Route("/sensors", (req, res) =>
{
    res.Headers["X-Instance"] = instance;
    res.EventStream(hub.Subscribe(req, [.. req.QueryParams.GetAll("topic")]));
});

// Relative paths are found under the content root (the build output: the .csproj copies wwwroot there), from any directory.
app.Route("/", (req, res) => res.File("wwwroot/index.html", attach: false));
app.Mount("/assets", Static.Files("wwwroot"));

// This instance's sensor: a reading every 100 ms, published to every instance. A publish that times out may still
// be applied by Redis later, so each reading has an idempotency key: retrying with it never publishes a reading twice.
using var stop = new CancellationTokenSource();
var sensor = Task.Run(async () =>
{
    for (var reading = 1L; !stop.IsCancellationRequested; reading++)
    {
        var temperature = 10 + 2 * (2 * Random.Shared.NextDouble() - 1);
        var evt = new ServerEvent(json: new { temperature, instance, reading });
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            try
            {
                await hub.PublishAsync(evt, idempotencyKey: $"{instance}/{startedAt}/{reading}");
                await hub.PublishAsync($"sensors/{instance}", evt, idempotencyKey: $"{instance}/{startedAt}/{reading}/topic");
                break;
            }
            catch (Exception e) when (e is TimeoutException or StackExchange.Redis.RedisException)
            {
                Console.Error.WriteLine(attempt < 3
                    ? $"{instance}: reading {reading} not confirmed by Redis, retrying with its idempotency key ({e.Message})"
                    : $"{instance}: reading {reading} not confirmed after 3 attempts; it may or may not have been published ({e.Message})");
            }
        }
        await Task.Delay(100, stop.Token).ContinueWith(_ => { });
    }
});
app.On("shutdown", async () =>
{
    await stop.CancelAsync();
    await sensor;
});

app.Run();
