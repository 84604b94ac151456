using System.Net;

namespace Bocata;

/// <summary>The page at <c>docsPath</c> that renders the OpenAPI document in a browser. Placeholder: one HTML page that links the
/// document (the interactive page and its assets replace it).</summary>
internal static class DocsPage
{
    internal static void Map(App app, string docsPath, string documentPath, string title)
    {
        var html = $"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>{WebUtility.HtmlEncode(title)}</title></head>
            <body><h1>{WebUtility.HtmlEncode(title)}</h1><p>This page renders the API's OpenAPI document: <a href="{WebUtility.HtmlEncode(documentPath)}">{WebUtility.HtmlEncode(documentPath)}</a>.</p></body>
            </html>
            """;
        app.Get(docsPath, (req, res) => res.Html = html).ExcludeFromDescription();
    }
}
