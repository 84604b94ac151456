using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace Bocata;

/// <summary>The raw values of a matched route's parameters, as slices of the path: reused per connection, materialized lazily.</summary>
internal sealed class RouteValues : IReadOnlyDictionary<string, string>
{
    public static readonly RouteValues Empty = new();

    // Start and length of each parameter, made when a pattern with parameters is first tried on the connection: a stream on
    // a literal path (an event feed) never pays for it.
    private int[]? _captures;
    private string _path = "";
    private string[] _names = [];

    public Span<int> Captures => _captures ??= new int[32];

    public void Set(string path, RoutePattern pattern)
    {
        _path = path;
        _names = pattern.ParameterNames;
    }

    public void Clear()
    {
        _path = "";
        _names = [];
    }

    public ReadOnlySpan<char> GetSpan(int index) => _path.AsSpan(_captures![2 * index], _captures[2 * index + 1]);

    public string Get(int index) => _path.Substring(_captures![2 * index], _captures[2 * index + 1]);

    public string this[string key] => TryGetValue(key, out var v) ? v : throw new KeyNotFoundException($"The route has no parameter '{key}'.");

    public IEnumerable<string> Keys => _names;

    public IEnumerable<string> Values
    {
        get
        {
            for (var i = 0; i < _names.Length; i++) yield return Get(i);
        }
    }

    public int Count => _names.Length;

    public bool ContainsKey(string key) => Array.FindIndex(_names, n => string.Equals(n, key, StringComparison.OrdinalIgnoreCase)) >= 0;

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out string value)
    {
        for (var i = 0; i < _names.Length; i++)
        {
            if (string.Equals(_names[i], key, StringComparison.OrdinalIgnoreCase))
            {
                value = Get(i);
                return true;
            }
        }
        value = null;
        return false;
    }

    public IEnumerator<KeyValuePair<string, string>> GetEnumerator()
    {
        for (var i = 0; i < _names.Length; i++) yield return new KeyValuePair<string, string>(_names[i], Get(i));
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
