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
        : settings.LoggerFactory is null && settings.LogFormat == LogFormat.Simple ? new ConsoleAccessLog(Console.OpenStandardOutput())
        : new LoggerAccessLog(loggers.CreateLogger("Bocata.Access"));

    public void Write(Request req, int status, long startTimestamp)
    {
        if (req.Context.Response.NotLogged && status < 400) return;
        WriteRequest(req, status, startTimestamp);
    }

    protected virtual void WriteRequest(Request req, int status, long startTimestamp) => Write(req.Method, req.PathBase, req.Path, status, startTimestamp);

    public abstract void Write(string method, string pathBase, string path, int status, long startTimestamp);

    public virtual void Dispose()
    {
    }

    /// <summary>The path as it can be printed: C0 and C1 controls and DEL become <c>\xNN</c>, bidirectional overrides and
    /// isolates and the Unicode line separators <c>\uNNNN</c>, so a path can never forge a log line, a terminal escape (U+009B
    /// is CSI) or text that reads differently than it is (U+202E).</summary>
    public static string Printable(string path)
    {
        if (!NeedsEscape(path)) return path;
        var builder = new StringBuilder(path.Length + 16);
        foreach (var c in path)
        {
            if (!Escaped(c)) builder.Append(c);
            else if (c <= 0xFF) builder.Append(@"\x").Append(((int)c).ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            else builder.Append(@"\u").Append(((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture));
        }
        return builder.ToString();
    }

    /// <summary>Whether <paramref name="c"/> is printed escaped: C0, DEL, C1, bidi controls, line and paragraph separators.</summary>
    public static bool Escaped(char c) =>
        c < 0x20 || (c >= 0x7F && c <= 0x9F) || c is '\u061C' or '\u200E' or '\u200F' or '\u2028' or '\u2029'
        || (c >= '\u202A' && c <= '\u202E') || (c >= '\u2066' && c <= '\u2069');

    private static bool NeedsEscape(string path)
    {
        foreach (var c in path)
            if (Escaped(c)) return true;
        return false;
    }
}

/// <summary>Through the app's <see cref="ILogger"/> (used when the app configured its own logger factory).</summary>
internal sealed class LoggerAccessLog(ILogger logger) : AccessLog
{
    // Structured fields for log pipelines: the method, the path, the route pattern that matched (http.route), the status and
    // the duration in milliseconds; the trace and span ids come from the logger's activity tracking.
    // The message labels the pattern ("GET /healthz 200 0.2 ms /healthz" read as a path printed twice); a request no route
    // matched has no pattern to name.
    private static readonly Action<ILogger, string, string, int, double, string, Exception?> RoutedLine =
        LoggerMessage.Define<string, string, int, double, string>(LogLevel.Information, new EventId(1, "Request"), "{Method} {Path} {Status} {Elapsed:0.0} ms (route {Route})");

    private static readonly Action<ILogger, string, string, int, double, Exception?> Line =
        LoggerMessage.Define<string, string, int, double>(LogLevel.Information, new EventId(1, "Request"), "{Method} {Path} {Status} {Elapsed:0.0} ms");

    protected override void WriteRequest(Request req, int status, long startTimestamp)
    {
        if (!logger.IsEnabled(LogLevel.Information)) return;
        var elapsed = Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds;
        if (req.Route is { Length: > 0 } route) RoutedLine(logger, req.Method, Printable(req.PathBase + req.Path), status, elapsed, route, null);
        else Line(logger, req.Method, Printable(req.PathBase + req.Path), status, elapsed, null);
    }

    public override void Write(string method, string pathBase, string path, int status, long startTimestamp)
    {
        if (!logger.IsEnabled(LogLevel.Information)) return;
        Line(logger, method, Printable(pathBase + path), status, Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds, null);
    }
}
