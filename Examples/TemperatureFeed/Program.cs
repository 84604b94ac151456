// Bocadillo's SSE example (docs/guide/sse.md), ported line for line, plus a page that charts the feed.
// 1.
using System.Runtime.CompilerServices;
using Bocata;

// 2.
var app = new App();

app.Route("/temperature-feed", (req, res) =>
{
    // 3.
    res.EventStream(SendTemperatureData());

    // 4.
    async IAsyncEnumerable<ServerEvent> SendTemperatureData([EnumeratorCancellation] CancellationToken ct = default)
    {
        while (true)
        {
            var temperature = await GetTemperature();
            yield return new ServerEvent(json: new { temperature });
            await Task.Delay(10, ct);
        }
    }
});

static Task<double> GetTemperature()
{
    // TODO: get this from a sensor or something?
    return Task.FromResult(10 + 2 * (2 * Random.Shared.NextDouble() - 1));
}

// The page at / draws the feed live with the browser's EventSource (wwwroot/index.html and chart.js, no CDN).
// Relative paths are found under the content root (the build output: the .csproj copies wwwroot there), from any directory.
app.Route("/", (req, res) => res.File("wwwroot/index.html", attach: false));
app.Mount("/assets", Static.Files("wwwroot"));

app.Run();
