// A clock that ticks over Server-Sent Events: the page shows the server's time, updated every second.
using System.Runtime.CompilerServices;
using Bocata;

var app = new App();

app.Route("/clock", (req, res) =>
{
    res.EventStream(Tick());

    async IAsyncEnumerable<ServerEvent> Tick([EnumeratorCancellation] CancellationToken ct = default)
    {
        while (true)
        {
            yield return new ServerEvent(name: "tick", data: DateTime.Now.ToString("HH:mm:ss"));
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }
});

app.Route("/", (req, res) => res.Html = """
    <!DOCTYPE html>
    <html lang="en">
    <head><meta charset="utf-8"><title>SSE clock</title></head>
    <body style="font: 4rem system-ui, sans-serif; text-align: center; margin-top: 20vh">
      <time id="clock">--:--:--</time>
      <script>
        const source = new EventSource("/clock");
        source.addEventListener("tick", (e) => { document.getElementById("clock").textContent = e.data; });
      </script>
    </body>
    </html>
    """);

app.Run();
