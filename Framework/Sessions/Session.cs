using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;

namespace Bocata;

/// <summary>The client's session: string values kept in a signed cookie (readable by the client, not forgeable). Changes are saved with the response.</summary>
public sealed class Session : IDictionary<string, string>
{
    private readonly Dictionary<string, string> _values;

    internal Session(Dictionary<string, string> values) => _values = values;

    internal bool Modified { get; private set; }

    /// <summary>Stores a value as JSON.</summary>
    public void Set<T>(string key, T value) => this[key] = JsonSerializer.Serialize(value, BocataJson.TypeInfo<T>(BocataJson.Options));

    /// <summary>Reads a value stored with <see cref="Set{T}"/>, or the default when absent.</summary>
    public T? Get<T>(string key) => _values.TryGetValue(key, out var json) ? JsonSerializer.Deserialize(json, BocataJson.TypeInfo<T>(BocataJson.Options)) : default;

    /// <inheritdoc />
    public string this[string key]
    {
        get => _values[key];
        set
        {
            _values[key] = value ?? throw new ArgumentNullException(nameof(value));
            Modified = true;
        }
    }

    /// <inheritdoc />
    public ICollection<string> Keys => _values.Keys;

    /// <inheritdoc />
    public ICollection<string> Values => _values.Values;

    /// <inheritdoc />
    public int Count => _values.Count;

    /// <inheritdoc />
    public bool IsReadOnly => false;

    /// <inheritdoc />
    public void Add(string key, string value)
    {
        _values.Add(key, value);
        Modified = true;
    }

    /// <inheritdoc />
    public void Add(KeyValuePair<string, string> item) => Add(item.Key, item.Value);

    /// <inheritdoc />
    public void Clear()
    {
        Modified |= _values.Count > 0;
        _values.Clear();
    }

    /// <inheritdoc />
    public bool Contains(KeyValuePair<string, string> item) => ((ICollection<KeyValuePair<string, string>>)_values).Contains(item);

    /// <inheritdoc />
    public bool ContainsKey(string key) => _values.ContainsKey(key);

    /// <inheritdoc />
    public void CopyTo(KeyValuePair<string, string>[] array, int arrayIndex) => ((ICollection<KeyValuePair<string, string>>)_values).CopyTo(array, arrayIndex);

    /// <inheritdoc />
    public bool Remove(string key)
    {
        var removed = _values.Remove(key);
        Modified |= removed;
        return removed;
    }

    /// <inheritdoc />
    public bool Remove(KeyValuePair<string, string> item) => Contains(item) && Remove(item.Key);

    /// <inheritdoc />
    public bool TryGetValue(string key, [MaybeNullWhen(false)] out string value) => _values.TryGetValue(key, out value);

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, string>> GetEnumerator() => _values.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    internal Dictionary<string, string> Snapshot => _values;
}
