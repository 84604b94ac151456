using System.Text;

namespace Bocata;

/// <summary>A Bocata pattern as an OpenAPI path template: <c>{name:path}</c> becomes <c>{name}</c> and an anonymous <c>{}</c> gets a
/// name (<c>{wildcard1}</c>), since every templated part of an OpenAPI path must be a named parameter.</summary>
internal static class PathTemplate
{
    public static string From(string pattern)
    {
        if (!pattern.StartsWith('/')) pattern = "/" + pattern;
        var text = new StringBuilder(pattern.Length);
        var anonymous = 0;
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c != '{')
            {
                text.Append(c);
                continue;
            }
            var close = pattern.IndexOf('}', i);
            var inner = pattern[(i + 1)..close];
            var colon = inner.IndexOf(':', StringComparison.Ordinal);
            var name = colon < 0 ? inner : inner[..colon];
            if (name.Length == 0) name = Wildcard(++anonymous);
            text.Append('{').Append(name).Append('}');
            i = close;
        }
        return text.ToString();
    }

    /// <summary>The parameters of <paramref name="pattern"/> in order: their OpenAPI name and whether they take the rest of the path.</summary>
    public static List<(string Name, bool Tail)> Parameters(string pattern)
    {
        var parameters = new List<(string Name, bool Tail)>();
        var anonymous = 0;
        for (var i = pattern.IndexOf('{', StringComparison.Ordinal); i >= 0; i = pattern.IndexOf('{', i + 1))
        {
            var close = pattern.IndexOf('}', i);
            var inner = pattern[(i + 1)..close];
            var colon = inner.IndexOf(':', StringComparison.Ordinal);
            var name = colon < 0 ? inner : inner[..colon];
            parameters.Add((name.Length == 0 ? Wildcard(++anonymous) : name, colon >= 0));
        }
        return parameters;
    }

    private static string Wildcard(int n) => "wildcard" + n.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
