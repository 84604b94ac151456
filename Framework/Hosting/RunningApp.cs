using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>A started app: its <see cref="Url"/> and <see cref="StopAsync"/>.</summary>
public sealed class RunningApp : IAsyncDisposable
{
    private readonly KestrelHost _host;
    private readonly ServerState _server;
    private readonly IReadOnlyList<Func<Task>> _shutdown;
    private Task? _stopping;

    internal RunningApp(KestrelHost host, ServerState server, IReadOnlyList<Func<Task>> shutdown)
    {
        _host = host;
        _server = server;
        _shutdown = shutdown;
    }

    /// <summary>The base URL, e.g. <c>http://127.0.0.1:8000</c> (with the real port when started on port 0).</summary>
    public string Url => _host.Url;

    /// <summary>The number of event and response streams open now.</summary>
    public int OpenStreams => _server.OpenStreams;

    /// <summary>The number of WebSocket connections open now.</summary>
    public int OpenWebSockets => _server.OpenWebSockets;

    /// <summary>Stops gracefully: open streams are cancelled first, in-flight requests get the shutdown timeout, then shutdown handlers run.</summary>
    public Task StopAsync()
    {
        lock (_host)
        {
            return _stopping ??= StopCoreAsync();
        }
    }

    private async Task StopCoreAsync()
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var (streams, webSockets) = (_server.OpenStreams, _server.OpenWebSockets);
        _server.SignalStop();
        using (var timeout = new CancellationTokenSource(_server.Settings.ShutdownTimeout))
        {
            await _host.StopAsync(timeout.Token);
        }
        await _host.DisposeAsync();
        foreach (var handler in _shutdown) await handler();
        _server.Log.LogInformation("Bocata stopped in {Seconds:0.00} s: closed {Streams} event stream(s) and {WebSockets} WebSocket(s)",
            System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, streams, webSockets);
        _server.Dispose();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await StopAsync();
}
