using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>One line per request: method, path, status, time taken. Control characters in the path are escaped (no log injection).</summary>
internal abstract class AccessLog : IDisposable
{
    public static AccessLog? Create(Settings settings, ILoggerFactory loggers) =>
        !settings.AccessLog ? null
        : settings.LoggerFactory is null ? new ConsoleAccessLog(Console.OpenStandardOutput())
        : new LoggerAccessLog(loggers.CreateLogger("Bocata.Access"));

    public abstract void Write(string method, string pathBase, string path, int status, long startTimestamp);

    public virtual void Dispose()
    {
    }

    /// <summary>The path as it can be printed: C0 controls and DEL become <c>\xNN</c>, so a path can never forge a log line or a terminal escape.</summary>
    public static string Printable(string path)
    {
        if (!NeedsEscape(path)) return path;
        var builder = new StringBuilder(path.Length + 16);
        foreach (var c in path)
        {
            if (c < 0x20 || c == 0x7F) builder.Append(@"\x").Append(((int)c).ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            else builder.Append(c);
        }
        return builder.ToString();
    }

    private static bool NeedsEscape(string path)
    {
        foreach (var c in path)
            if (c < 0x20 || c == 0x7F) return true;
        return false;
    }
}

/// <summary>Through the app's <see cref="ILogger"/> (used when the app configured its own logger factory).</summary>
internal sealed class LoggerAccessLog(ILogger logger) : AccessLog
{
    private static readonly Action<ILogger, string, string, int, double, Exception?> Line =
        LoggerMessage.Define<string, string, int, double>(LogLevel.Information, new EventId(1, "Request"), "{Method} {Path} {Status} {Elapsed:0.0} ms");

    public override void Write(string method, string pathBase, string path, int status, long startTimestamp)
    {
        if (!logger.IsEnabled(LogLevel.Information)) return;
        Line(logger, method, Printable(pathBase + path), status, Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds, null);
    }
}
