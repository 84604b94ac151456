using System.Collections;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Primitives;

namespace Bocata;

/// <summary>The query string's parameters. The indexer gives the last value of a name, <see cref="GetAll"/> every value.</summary>
public sealed class QueryParams : IEnumerable<KeyValuePair<string, string>>
{
    private string _raw = string.Empty;
    private Dictionary<string, StringValues>? _parsed;

    internal void Attach(string raw)
    {
        _raw = raw;
        _parsed = null;
    }

    private Dictionary<string, StringValues> Parsed => _parsed ??= _raw.Length <= 1
        ? new Dictionary<string, StringValues>(StringComparer.Ordinal)
        : QueryHelpers.ParseQuery(_raw);

    /// <summary>The last value given for <paramref name="name"/>, or null.</summary>
    public string? this[string name]
    {
        get
        {
            if (_raw.Length <= 1) return null;
            return Parsed.TryGetValue(name, out var values) && values.Count > 0 ? values[values.Count - 1] : null;
        }
    }

    /// <summary>Every value given for <paramref name="name"/>, in order.</summary>
    public IReadOnlyList<string> GetAll(string name)
    {
        if (_raw.Length <= 1 || !Parsed.TryGetValue(name, out var values)) return [];
        var result = new string[values.Count];
        for (var i = 0; i < values.Count; i++) result[i] = values[i] ?? string.Empty;
        return result;
    }

    /// <summary>Whether the name appears in the query string.</summary>
    public bool Contains(string name) => _raw.Length > 1 && Parsed.ContainsKey(name);

    /// <summary>The number of distinct names.</summary>
    public int Count => _raw.Length <= 1 ? 0 : Parsed.Count;

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, string>> GetEnumerator()
    {
        if (_raw.Length <= 1) yield break;
        foreach (var pair in Parsed) yield return new KeyValuePair<string, string>(pair.Key, pair.Value.Count > 0 ? pair.Value[pair.Value.Count - 1] ?? "" : "");
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
