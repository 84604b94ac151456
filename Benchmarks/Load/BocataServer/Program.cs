// Bocata side of the load benchmark: the same endpoints as RawKestrel and MinimalApi.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Bocata;

var app = new App();
app.Configure(s =>
{
    s.AccessLog = false;
    s.StaticDir = null;
    s.LoggerFactory = Microsoft.Extensions.Logging.LoggerFactory.Create(_ => { });
});
var hub = new EventHub(replay: 16, bufferSize: 64);

app.Route("/plaintext", (req, res) => res.Text = "Hello, World!");
app.Route("/json", (req, res) => res.Json = new Greeting("Hello, World!"));
app.Route("/items/{id}", (Request req, Response res, int id) => res.Json = new Item(id, "item"));
app.Route("/sse", (req, res) => res.EventStream(Events()));
app.Route("/hub", (req, res) => res.EventStream(hub.Subscribe(req)));
app.Post("/publish", (req, res) =>
{
    hub.Publish(new ServerEvent(data: Stopwatch.GetTimestamp().ToString()));
    res.Text = hub.SubscriberCount.ToString();
});

app.Run();

static async IAsyncEnumerable<ServerEvent> Events([EnumeratorCancellation] CancellationToken ct = default)
{
    await Task.Yield();
    for (var n = 0; !ct.IsCancellationRequested; n++)
        yield return new ServerEvent(data: "{\"temperature\":10.41549470378961}");
}

internal sealed record Greeting(string Message);

internal sealed record Item(int Id, string Name);
