using System.Text.Json;

namespace Bocata;

/// <summary>The JSON options used by <c>res.Json</c>, <c>req.JsonAsync</c> and <c>ServerEvent(json:)</c>.</summary>
public static class BocataJson
{
    /// <summary>System.Text.Json's web defaults (camelCase, case-insensitive reading), with non-ASCII text left unescaped.</summary>
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        // Non-ASCII text stays readable UTF-8; HTML-sensitive characters (<, >, &, ') are still escaped.
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.Create(System.Text.Unicode.UnicodeRanges.All),
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
