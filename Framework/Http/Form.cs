using System.Collections;

namespace Bocata;

/// <summary>A parsed form body: fields (last value wins in the indexer) and uploaded files.</summary>
public sealed class Form : IEnumerable<KeyValuePair<string, string>>
{
    private readonly Dictionary<string, List<string>> _fields;

    internal Form(Dictionary<string, List<string>> fields, IReadOnlyList<UploadedFile> files)
    {
        _fields = fields;
        Files = files;
    }

    /// <summary>The last value of a field, or null.</summary>
    public string? this[string name] => _fields.TryGetValue(name, out var v) && v.Count > 0 ? v[^1] : null;

    /// <summary>Every value of a field, in order.</summary>
    public IReadOnlyList<string> GetAll(string name) => _fields.TryGetValue(name, out var v) ? v : [];

    /// <summary>Whether a field is present.</summary>
    public bool Contains(string name) => _fields.ContainsKey(name);

    /// <summary>The uploaded files, in order.</summary>
    public IReadOnlyList<UploadedFile> Files { get; }

    /// <summary>The first uploaded file of a form field, or null.</summary>
    public UploadedFile? File(string name)
    {
        foreach (var f in Files) if (f.Name == name) return f;
        return null;
    }

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, string>> GetEnumerator()
    {
        foreach (var pair in _fields) yield return new KeyValuePair<string, string>(pair.Key, pair.Value.Count > 0 ? pair.Value[^1] : "");
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>A file uploaded in a multipart form.</summary>
/// <param name="Name">The form field name.</param>
/// <param name="FileName">The client's file name (untrusted: never use it as a path).</param>
/// <param name="ContentType">The part's content type.</param>
/// <param name="Content">The file's bytes.</param>
public sealed record UploadedFile(string Name, string FileName, string ContentType, byte[] Content)
{
    /// <summary>The file's size in bytes.</summary>
    public long Length => Content.LongLength;

    /// <summary>The content decoded as UTF-8.</summary>
    public string Text => System.Text.Encoding.UTF8.GetString(Content);
}
