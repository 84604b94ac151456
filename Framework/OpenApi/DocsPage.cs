using System.Net;

namespace Bocata;

/// <summary>The interactive page that renders the app's OpenAPI document (<c>app.OpenApi(..., docsPath)</c>): its HTML, script and
/// style are embedded in the Bocata assembly and served as routes of the app, so the page works offline and behind a strict CSP.</summary>
internal static class DocsPage
{
    /// <summary>The page's Content-Security-Policy: its script and style come from the app, never inline; it talks only to its own
    /// origin (the document, "try it" requests and event streams); nothing else loads, and no other site may frame it.</summary>
    internal const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

    /// <summary>Registers GET <paramref name="docsPath"/> (the page) and its assets under <c>{docsPath}/assets/</c>, named by content
    /// hash. The page fetches <paramref name="documentPath"/> and shows <paramref name="title"/> (HTML-escaped) until it loads.</summary>
    internal static void Map(App app, string docsPath, string documentPath, string title)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(title);
        RequireRootedPath(docsPath, nameof(docsPath), "/docs");
        RequireRootedPath(documentPath, nameof(documentPath), "/openapi.json");

        var prefix = docsPath.TrimEnd('/');
        var script = new DocsAsset(DocsAsset.Read("docs.js"), "text/javascript; charset=utf-8", immutable: true);
        var style = new DocsAsset(DocsAsset.Read("docs.css"), "text/css; charset=utf-8", immutable: true);
        var scriptPath = $"{prefix}/assets/docs.{script.Hash}.js";
        var stylePath = $"{prefix}/assets/docs.{style.Hash}.css";
        var page = new DocsAsset(Render(title, documentPath, scriptPath, stylePath), "text/html; charset=utf-8", immutable: false);

        app.Get(docsPath, (req, res) =>
        {
            res.Headers["Content-Security-Policy"] = ContentSecurityPolicy;
            res.Headers["Referrer-Policy"] = "no-referrer";
            page.Send(req, res);
        }).ExcludeFromDescription();
        app.Get(scriptPath, script.Send).ExcludeFromDescription();
        app.Get(stylePath, style.Send).ExcludeFromDescription();
    }

    /// <summary>The page's HTML from the <c>docs.html</c> template; every value is HTML-escaped (the title is the app's, but may hold
    /// <c>&lt;</c> or <c>&amp;</c>, and the paths are attribute values).</summary>
    internal static byte[] Render(string title, string documentPath, string scriptPath, string stylePath) =>
        System.Text.Encoding.UTF8.GetBytes(DocsAsset.ReadText("docs.html")
            .Replace("%TITLE%", WebUtility.HtmlEncode(title), StringComparison.Ordinal)
            .Replace("%DOCUMENT%", WebUtility.HtmlEncode(documentPath), StringComparison.Ordinal)
            .Replace("%SCRIPT%", WebUtility.HtmlEncode(scriptPath), StringComparison.Ordinal)
            .Replace("%STYLE%", WebUtility.HtmlEncode(stylePath), StringComparison.Ordinal));

    private static void RequireRootedPath(string path, string name, string example)
    {
        ArgumentNullException.ThrowIfNull(path, name);
        if (!path.StartsWith('/') || path.Contains('{', StringComparison.Ordinal) || path.Contains('?', StringComparison.Ordinal) || path.Contains('#', StringComparison.Ordinal))
            throw new ArgumentException($"{name} must be a plain path that starts with '/', without parameters or a query, e.g. \"{example}\" (was \"{path}\").", name);
    }
}
