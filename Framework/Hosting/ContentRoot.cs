namespace Bocata;

/// <summary>
/// Where relative paths given to Bocata — <see cref="Settings.StaticDir"/>, <c>Static.Files("assets")</c>, <c>res.File("…")</c>,
/// <c>new Templates("templates")</c> — are found: the folder of the app's binaries (<see cref="AppContext.BaseDirectory"/>; copy
/// the folders there with <c>CopyToOutputDirectory</c>), so the app finds them whatever directory it is started from. A path
/// that does not exist there but does in the current directory (the project folder under <c>dotnet run</c>) is taken from there.
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
        }
    }

    /// <summary>The full path for <paramref name="path"/>: as is when absolute, else under <see cref="Directory"/> (or the current
    /// directory when only it has it).</summary>
    public static string Resolve(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (System.IO.Path.IsPathRooted(path)) return System.IO.Path.GetFullPath(path);
        var underRoot = System.IO.Path.GetFullPath(System.IO.Path.Combine(Directory, path));
        if (Exists(underRoot)) return underRoot;
        var underCurrent = System.IO.Path.GetFullPath(path);
        return Exists(underCurrent) ? underCurrent : underRoot;
    }

    private static bool Exists(string path) => System.IO.Directory.Exists(path) || File.Exists(path);
}
