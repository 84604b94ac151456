namespace Bocata;

/// <summary><c>app.OpenApi</c>: the app's OpenAPI document and docs page.</summary>
public sealed partial class App
{
    private bool _openApi;

    /// <summary>Serves an OpenAPI 3.2.0 document of every route at <paramref name="path"/> and, unless <paramref name="docsPath"/> is
    /// null, a page that renders it in a browser. What handlers say (typed parameters, <c>req.JsonAsync&lt;T&gt;()</c>,
    /// <c>res.Json</c>, event streams) is described by Bocata's source generator at build time; <c>.Summary</c>, <c>.Produces&lt;T&gt;</c>
    /// and the other route methods say the rest.</summary>
    public void OpenApi(string title = "API", string version = "1.0", string path = "/openapi.json", string? docsPath = "/docs")
    {
        ArgumentNullException.ThrowIfNull(title);
        ArgumentNullException.ThrowIfNull(version);
        ArgumentNullException.ThrowIfNull(path);
        if (!path.StartsWith('/')) throw new ArgumentException($"The OpenAPI document's path '{path}' must start with '/', e.g. \"/openapi.json\".", nameof(path));
        if (docsPath is not null && !docsPath.StartsWith('/')) throw new ArgumentException($"The docs page's path '{docsPath}' must start with '/', e.g. \"/docs\" (or null for no page).", nameof(docsPath));
        if (docsPath == path) throw new ArgumentException($"The document and the docs page cannot both be at '{path}'.", nameof(docsPath));
        if (_openApi) throw new InvalidOperationException("app.OpenApi can be called once: one document describes the whole app (mounted apps and routers included).");
        var endpoint = new OpenApiEndpoint(this, title, version);
        Get(path, (req, res) => endpoint.Handle(req, res)).ExcludeFromDescription();
        if (docsPath is not null) DocsPage.Map(this, docsPath, path, title);
        _openApi = true;
    }

    /// <summary>The app's settings (the document declares the security schemes they turn on).</summary>
    internal Settings CurrentSettings => _settings;

    /// <summary>Every route with its full path (routers' prefixes, mounted apps' routes under their mount), for the OpenAPI document.</summary>
    internal IEnumerable<(string Path, Route Route)> DescribedRoutes()
    {
        foreach (var (prefix, route, _) in AllRoutes()) yield return (prefix + route.Path, route);
        var stack = new Stack<(string, Router)>();
        stack.Push(("", this));
        while (stack.Count > 0)
        {
            var (prefix, router) = stack.Pop();
            foreach (var (inner, app) in router.MountedApps)
                foreach (var (path, route) in app.DescribedRoutes()) yield return (prefix + inner + path, route);
            foreach (var (inner, child) in router.Included) stack.Push((prefix + inner, child));
        }
    }
}
