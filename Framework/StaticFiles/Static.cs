namespace Bocata;

/// <summary>Static file serving: <c>app.Mount("/assets", Static.Files("assets"))</c>.</summary>
public static class Static
{
    // GetFullPath does not follow symbolic links: a link inside the folder (the file or a directory on its path)
    // that points outside it would still escape, so every link between the file and the root is resolved and checked.
    private static bool EscapesThroughLink(string full, string root, string rootWithSeparator)
    {
        for (FileSystemInfo? entry = new FileInfo(full); entry is not null && entry.FullName.Length > root.Length; entry = Parent(entry))
        {
            if (entry.LinkTarget is null) continue;
            var target = entry.ResolveLinkTarget(returnFinalTarget: true);
            if (target is null || !(target.FullName.StartsWith(rootWithSeparator, StringComparison.Ordinal) || target.FullName == root)) return true;
        }
        return false;

        static FileSystemInfo? Parent(FileSystemInfo entry) => Path.GetDirectoryName(entry.FullName) is { } dir ? new DirectoryInfo(dir) : null;
    }

    /// <summary>The file <paramref name="relative"/> names under <paramref name="root"/>, or null if it does not exist or would escape
    /// it (an absolute path, a ".." segment, NUL, a backslash, or a symbolic link leading out).</summary>
    /// <remarks>A segment starting with "." (<c>.env</c>, <c>.git/config</c>) is refused unless <paramref name="dotfiles"/>.</remarks>
    internal static string? Resolve(string root, string rootWithSeparator, string relative, bool directoryIndex, bool dotfiles = false)
    {
        // Kestrel has decoded %2F and %5C already; any NUL, backslash or ".." segment is an escape attempt.
        if (relative.Length == 0 && !directoryIndex) return null;
        if (!dotfiles && (relative.StartsWith('.') || relative.Contains("/.", StringComparison.Ordinal))) return null;
        if (Path.IsPathRooted(relative) || relative.Contains('\0', StringComparison.Ordinal) || relative.Contains('\\', StringComparison.Ordinal)
            || relative.Split('/').Any(s => s is ".." || s.StartsWith("..", StringComparison.Ordinal) && s.Trim('.').Length == 0))
            return null;
        var full = Path.GetFullPath(Path.Combine(root, relative));
        if (!full.StartsWith(rootWithSeparator, StringComparison.Ordinal) && full != root) return null;
        if (directoryIndex && Directory.Exists(full)) full = Path.Combine(full, "index.html");
        if (!System.IO.File.Exists(full) || EscapesThroughLink(full, root, rootWithSeparator)) return null;
        return full;
    }

    internal static (string Root, string RootWithSeparator) Root(string directory)
    {
        var root = ContentRoot.Resolve(directory);
        return (root, root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar);
    }

    private static readonly Microsoft.AspNetCore.StaticFiles.FileExtensionContentTypeProvider KnownTypes = new();

    /// <summary>A handler serving the files under <paramref name="directory"/>; paths that escape it are 404, directories serve their
    /// index.html. As ASP.NET Core's static files, hidden files (any path segment starting with ".", such as <c>.env</c> or
    /// <c>.git/</c>) and files whose extension has no known content type are 404 unless you opt in.</summary>
    /// <param name="directory">The folder to serve.</param>
    /// <param name="maxAge">Sends <c>Cache-Control: public, max-age=…</c> with every file (Bocadillo's <c>max_age</c>); none by default.</param>
    /// <param name="serveDotfiles">Also serve hidden files and folders (e.g. <c>.well-known/</c>).</param>
    /// <param name="serveUnknownFileTypes">Also serve files of unknown type, as <c>application/octet-stream</c>.</param>
    public static Handler Files(string directory, TimeSpan? maxAge = null, bool serveDotfiles = false, bool serveUnknownFileTypes = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (maxAge is { } age && age < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(maxAge), age, "maxAge cannot be negative; use TimeSpan.Zero for max-age=0 or leave it null for no Cache-Control.");
        var (root, rootWithSeparator) = Root(directory);
        var cacheControl = maxAge is { } a ? $"public, max-age={(long)a.TotalSeconds}" : null;
        return (req, res) =>
        {
            if (req.Method is not ("GET" or "HEAD"))
            {
                var error = new HttpError(405, "Static files answer GET and HEAD only.");
                error.Headers["Allow"] = "GET, HEAD";
                throw error;
            }
            var full = Resolve(root, rootWithSeparator, req.Path.TrimStart('/'), directoryIndex: true, serveDotfiles) ?? throw new HttpError(404);
            if (!serveUnknownFileTypes && !KnownTypes.TryGetContentType(full, out _)) throw new HttpError(404);
            if (cacheControl is not null) res.Headers["Cache-Control"] = cacheControl;
            res.File(full, attach: false);
            return Task.CompletedTask;
        };
    }
}
