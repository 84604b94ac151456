using System.Text.Json;

namespace Bocata;

/// <summary>The JSON options used by <c>res.Json</c>, <c>req.JsonAsync</c> and <c>ServerEvent(json:)</c>.</summary>
public static class BocataJson
{
    /// <summary>System.Text.Json's web defaults (camelCase, case-insensitive reading).</summary>
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
