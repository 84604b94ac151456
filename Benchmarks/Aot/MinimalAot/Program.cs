// The peer: ASP.NET Core minimal APIs the way its Native AOT docs and template write them.
using System.Text.Json.Serialization;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, AppJson.Default));
builder.WebHost.ConfigureKestrel(o => o.AddServerHeader = false);
builder.WebHost.UseUrls($"http://127.0.0.1:{Environment.GetEnvironmentVariable("PORT") ?? "5000"}");
var app = builder.Build();
var hub = new Broadcaster();

app.MapGet("/plaintext", () => "Hello, World!");
app.MapGet("/json", () => new Greeting("Hello, World!"));
app.MapGet("/hub", (CancellationToken ct) => TypedResults.ServerSentEvents(hub.Subscribe(ct)));
app.MapPost("/publish", () =>
{
    hub.Publish(System.Diagnostics.Stopwatch.GetTimestamp().ToString());
    return hub.Count.ToString();
});
app.MapGet("/count", () => hub.Count.ToString());
app.MapGet("/stats", () =>
    $"alloc={GC.GetTotalAllocatedBytes(false)} gen0={GC.CollectionCount(0)} gen1={GC.CollectionCount(1)} gen2={GC.CollectionCount(2)} " +
    $"pause_ms={GC.GetTotalPauseDuration().TotalMilliseconds:0} cpu_ms={System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds:0}");
app.Run();

internal sealed record Greeting(string Message);

[JsonSerializable(typeof(Greeting))]
[JsonSerializable(typeof(string))]
internal sealed partial class AppJson : JsonSerializerContext;
