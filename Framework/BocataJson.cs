using System.Text.Json;

namespace Bocata;

/// <summary>The JSON options used by <c>res.Json</c>, <c>req.JsonAsync</c> and <c>ServerEvent(json:)</c>.</summary>
public static class BocataJson
{
    /// <summary>System.Text.Json's web defaults (camelCase, case-insensitive reading), with non-ASCII text left unescaped.</summary>
    /// <remarks>An app's own options are <c>Settings.Json</c> (these, until you change them in <c>app.Configure</c>); these
    /// process-wide ones serve what has no app at hand: <c>new ServerEvent(json: …)</c>.</remarks>
    public static JsonSerializerOptions Options { get; } = CreateOptions(readOnly: true);

    internal static JsonSerializerOptions CreateOptions(bool readOnly)
    {
        // Non-ASCII text stays readable UTF-8; HTML-sensitive characters (<, >, &, ') are still escaped.
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.Create(System.Text.Unicode.UnicodeRanges.All),
        };
        if (readOnly) options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
