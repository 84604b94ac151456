#if (sse)
using System.Runtime.CompilerServices;
#endif
using Bocata;

namespace BocataApp;

/// <summary>Builds the app: Program.cs runs it, the tests build the very same app.</summary>
public static class AppFactory
{
    public static App Create(Action<Settings>? configure = null)
    {
        var app = new App();
        if (configure is not null) app.Configure(configure);

        app.Route("/hello/{name}", (Request req, Response res, string name) =>
            res.Json = new { greeting = $"Hello, {name}!" });
#if (sse)

        // A Server-Sent Events feed; the page at / draws it with the browser's EventSource. Everything under static/ is
        // served at /static (Bocata's static folder, as Bocadillo's): static/site.css is GET /static/site.css.
        app.Route("/feed", (req, res) => res.EventStream(Ticks()));
        app.Route("/", (req, res) => res.File("static/index.html", attach: false));
#else

        app.Route("/", (req, res) => res.Text = "Hello from Bocata!");
#endif

        return app;
    }
#if (sse)

    private static async IAsyncEnumerable<ServerEvent> Ticks([EnumeratorCancellation] CancellationToken ct = default)
    {
        for (var i = 1; ; i++)
        {
            yield return new ServerEvent(name: "tick", json: new { count = i, time = DateTime.UtcNow });
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }
#endif
}
