using System.Collections;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace Bocata;

/// <summary>Case-insensitive HTTP headers. Request headers are read-only; response header values are validated against CR/LF injection.</summary>
public sealed class Headers : IEnumerable<KeyValuePair<string, string>>
{
    private IHeaderDictionary _inner = EmptyHeaders;
    private readonly bool _readOnly;
    private static readonly IHeaderDictionary EmptyHeaders = new HeaderDictionary();

    internal Headers(bool readOnly) => _readOnly = readOnly;

    internal void Attach(IHeaderDictionary inner) => _inner = inner;

    /// <summary>The header's value (repeated values joined by a comma), or null when absent. Setting null removes it.</summary>
    public string? this[string name]
    {
        get
        {
            var values = _inner[name];
            return values.Count == 0 ? null : values.ToString();
        }
        set
        {
            EnsureWritable();
            HeaderValidation.ValidateName(name);
            if (value is null)
            {
                _inner.Remove(name);
                return;
            }
            HeaderValidation.ValidateValue(name, value);
            _inner[name] = value;
        }
    }

    /// <summary>Adds a value without replacing existing ones (for repeated headers such as Set-Cookie).</summary>
    public void Append(string name, string value)
    {
        EnsureWritable();
        HeaderValidation.ValidateName(name);
        ArgumentNullException.ThrowIfNull(value);
        HeaderValidation.ValidateValue(name, value);
        _inner.Append(name, value);
    }

    /// <summary>Removes a header; returns whether it was present.</summary>
    public bool Remove(string name)
    {
        EnsureWritable();
        return _inner.Remove(name);
    }

    /// <summary>Whether the header is present.</summary>
    public bool Contains(string name) => _inner.ContainsKey(name);

    /// <summary>Every value of a header, in order; empty when absent.</summary>
    public IReadOnlyList<string> GetAll(string name)
    {
        var values = _inner[name];
        var result = new string[values.Count];
        for (var i = 0; i < values.Count; i++) result[i] = values[i] ?? string.Empty;
        return result;
    }

    /// <summary>The number of distinct header names.</summary>
    public int Count => _inner.Count;

    internal StringValues Raw(string name) => _inner[name];

    internal void SetUnchecked(string name, StringValues value) => _inner[name] = value;

    internal void Clear() => _inner.Clear();

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, string>> GetEnumerator()
    {
        foreach (var pair in _inner) yield return new KeyValuePair<string, string>(pair.Key, pair.Value.ToString());
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private void EnsureWritable()
    {
        if (_readOnly) throw new InvalidOperationException("Request headers are read-only. Set headers on the response: res.Headers[name] = value.");
    }
}
