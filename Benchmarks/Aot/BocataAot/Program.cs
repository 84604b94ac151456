// Bocata side of the AOT benchmark: the endpoints of Benchmarks/Aot/MinimalAot, written as a Native AOT app writes them
// ((req, res) handlers, JSON through a source-generated context).
using System.Text.Json.Serialization;
using Bocata;

var app = new App();
app.Configure(s =>
{
    s.AccessLog = false;
    s.StaticDir = null;
    s.LoggerFactory = Microsoft.Extensions.Logging.LoggerFactory.Create(_ => { });
    s.Json.TypeInfoResolverChain.Insert(0, AppJson.Default);
});
var hub = new EventHub(replay: 16, bufferSize: 64);

app.Route("/plaintext", (req, res) => res.Text = "Hello, World!");
app.Route("/json", (req, res) => res.Json = new Greeting("Hello, World!"));
app.Route("/hub", (req, res) => res.EventStream(hub.Subscribe(req)));
app.Post("/publish", async (req, res) =>
{
    await hub.PublishAsync(new ServerEvent(data: System.Diagnostics.Stopwatch.GetTimestamp().ToString()));
    res.Text = hub.SubscriberCount.ToString();
});
app.Get("/count", (req, res) => res.Text = hub.SubscriberCount.ToString());
app.Get("/stats", (req, res) => res.Text =
    $"alloc={GC.GetTotalAllocatedBytes(false)} gen0={GC.CollectionCount(0)} gen1={GC.CollectionCount(1)} gen2={GC.CollectionCount(2)} " +
    $"pause_ms={GC.GetTotalPauseDuration().TotalMilliseconds:0} cpu_ms={System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds:0}");
app.Run();

internal sealed record Greeting(string Message);

[JsonSerializable(typeof(Greeting))]
internal sealed partial class AppJson : JsonSerializerContext;
