#if (sse)
using System.Runtime.CompilerServices;
#endif
#if (aot)
using System.Text.Json.Serialization;
#endif
using Bocata;

namespace BocataApp;

/// <summary>Builds the app: Program.cs runs it, the tests build the very same app.</summary>
public static class AppFactory
{
    public static App Create(Action<Settings>? configure = null)
    {
        var app = new App();
#if (aot)
        // Native AOT serializes JSON through source-generated metadata: every type the app sends or reads is in AppJson.
        app.Configure(s =>
        {
            s.Json.TypeInfoResolverChain.Insert(0, AppJson.Default);
            configure?.Invoke(s);
        });
#else
        if (configure is not null) app.Configure(configure);
#endif

#if (aot)
        app.Route("/hello/{name}", (Request req, Response res, string name) =>
            res.Json = new Hello($"Hello, {name}!"));
#else
        app.Route("/hello/{name}", (Request req, Response res, string name) =>
            res.Json = new { greeting = $"Hello, {name}!" });
#endif
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
#if (aot)
            yield return new ServerEvent(name: "tick", json: new Tick(i, DateTime.UtcNow));
#else
            yield return new ServerEvent(name: "tick", json: new { count = i, time = DateTime.UtcNow });
#endif
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }
#endif
}
#if (aot)

public sealed record Hello(string Greeting);
#if (sse)

public sealed record Tick(int Count, DateTime Time);
#endif

[JsonSerializable(typeof(Hello))]
#if (sse)
[JsonSerializable(typeof(Tick))]
#endif
internal sealed partial class AppJson : JsonSerializerContext;
#endif
