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

/// <summary>A file uploaded in a multipart form. Small files are kept in memory; a file larger than
/// <see cref="Settings.FormMemoryThreshold"/> is kept in a temporary file that is deleted when the request ends — read it with
/// <see cref="OpenReadStream"/>, <see cref="CopyToAsync"/> or <see cref="SaveAsAsync"/> during the request.</summary>
public sealed class UploadedFile
{
    private readonly string? _path;
    private byte[]? _content;

    /// <summary>A file held in memory (what a test or a small upload gets).</summary>
    public UploadedFile(string name, string fileName, string contentType, byte[] content)
    {
        ArgumentNullException.ThrowIfNull(content);
        Name = name;
        FileName = fileName;
        ContentType = contentType;
        _content = content;
        Length = content.LongLength;
    }

    internal UploadedFile(string name, string fileName, string contentType, string path, long length)
    {
        Name = name;
        FileName = fileName;
        ContentType = contentType;
        _path = path;
        Length = length;
    }

    /// <summary>The temporary file holding a large upload, or null when it is in memory.</summary>
    internal string? TempPath => _path;

    /// <summary>The form field name.</summary>
    public string Name { get; }

    /// <summary>The client's file name (untrusted: never use it as a path).</summary>
    public string FileName { get; }

    /// <summary>The part's content type (as the client declared it: untrusted).</summary>
    public string ContentType { get; }

    /// <summary>The file's size in bytes.</summary>
    public long Length { get; }

    /// <summary>Opens the file's content for reading, from the start (each call gives a new stream).</summary>
    public Stream OpenReadStream() => _path is null
        ? new MemoryStream(_content!, writable: false)
        : new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 16 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan);

    /// <summary>Copies the content to <paramref name="target"/> without loading it into memory.</summary>
    public async Task CopyToAsync(Stream target, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        await using var source = OpenReadStream();
        await source.CopyToAsync(target, cancellationToken);
    }

    /// <summary>Saves the content to <paramref name="path"/> (a path you chose — never <see cref="FileName"/> as given).</summary>
    public async Task SaveAsAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        await using var target = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 16 * 1024, FileOptions.Asynchronous);
        await CopyToAsync(target, cancellationToken);
    }

    /// <summary>The file's bytes — loaded into memory on first use for a file kept on disk: prefer
    /// <see cref="OpenReadStream"/> for large files.</summary>
    public byte[] Content
    {
        get
        {
            if (_content is not null) return _content;
            using var source = OpenReadStream();
            var bytes = new byte[Length];
            source.ReadExactly(bytes);
            return _content = bytes;
        }
    }

    /// <summary>The content decoded as UTF-8.</summary>
    public string Text => System.Text.Encoding.UTF8.GetString(Content);
}
