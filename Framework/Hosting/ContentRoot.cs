namespace Bocata;

/// <summary>
/// Where relative paths given to Bocata — <see cref="Settings.StaticDir"/>, <c>Static.Files("assets")</c>, <c>res.File("…")</c>,
/// <c>new Templates("templates")</c> — are found: the folder of the app's binaries (<see cref="AppContext.BaseDirectory"/>; copy
/// the folders there with <c>CopyToOutputDirectory</c>), so the app finds them whatever directory it is started from. A path
/// that does not exist there but does in the current directory (the project folder under <c>dotnet run</c>) is taken from there.
/// In a Debug build of an app (<c>dotnet run</c>, <c>dotnet watch</c>) the project folder comes first: a saved template or static
/// file shows on the next request, without a rebuild; Release builds (<c>dotnet publish</c>) never look there.
/// </summary>
public static class ContentRoot
{
    /// <summary>The content root; set it first thing in <c>Program.cs</c> to use another folder. Default: the app's base directory.</summary>
    public static string Directory
    {
        get => field ??= AppContext.BaseDirectory;
        set
        {
            ArgumentException.ThrowIfNullOrEmpty(value);
            field = System.IO.Path.GetFullPath(value);
            s_directorySet = true;
        }
    }

    private static bool s_directorySet;

    /// <summary>The app's project folder, when the app is a Debug build that recorded it (Bocata's build props write it into the
    /// entry assembly as <c>[AssemblyMetadata("Bocata.ProjectDirectory", …)]</c>) and the folder is still there; else null.</summary>
    internal static string? ProjectDirectory => s_project.Value;

    private static readonly Lazy<string?> s_project = new(() => ProjectDirectoryOf(System.Reflection.Assembly.GetEntryAssembly()));

    internal static string? ProjectDirectoryOf(System.Reflection.Assembly? entry)
    {
        if (entry is null) return null;
        foreach (var metadata in entry.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), inherit: false))
            if (metadata is System.Reflection.AssemblyMetadataAttribute { Key: "Bocata.ProjectDirectory", Value: { Length: > 0 } folder } && System.IO.Directory.Exists(folder))
                return folder;
        return null;
    }

    /// <summary>The full path for <paramref name="path"/>: as is when absolute, else under <see cref="Directory"/> (or the current
    /// directory when only it has it).</summary>
    public static string Resolve(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (System.IO.Path.IsPathRooted(path)) return System.IO.Path.GetFullPath(path);
        if (!s_directorySet && ProjectDirectory is { } project && System.IO.Path.GetFullPath(System.IO.Path.Combine(project, path)) is var underProject && Exists(underProject))
            return underProject;
        var underRoot = System.IO.Path.GetFullPath(System.IO.Path.Combine(Directory, path));
        if (Exists(underRoot)) return underRoot;
        var underCurrent = System.IO.Path.GetFullPath(path);
        return Exists(underCurrent) ? underCurrent : underRoot;
    }

    private static bool Exists(string path) => System.IO.Directory.Exists(path) || File.Exists(path);
}
