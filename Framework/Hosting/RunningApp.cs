using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>A started app: its <see cref="Url"/> and <see cref="StopAsync"/>.</summary>
public sealed class RunningApp : IAsyncDisposable
{
    private readonly KestrelHost _host;
    private readonly ServerState _server;
    private readonly IReadOnlyList<Func<Task>> _stoppingHandlers;
    private readonly IReadOnlyList<Func<Task>> _shutdown;
    private Task? _stopping;

    internal RunningApp(KestrelHost host, ServerState server, IReadOnlyList<Func<Task>> stopping, IReadOnlyList<Func<Task>> shutdown)
    {
        _host = host;
        _server = server;
        _stoppingHandlers = stopping;
        _shutdown = shutdown;
    }

    /// <summary>The base URL, e.g. <c>http://127.0.0.1:8000</c> (with the real port when started on port 0).</summary>
    public string Url => _host.Url;

    /// <summary>The number of event and response streams open now.</summary>
    public int OpenStreams => _server.OpenStreams;

    internal ServerState Server => _server;

    /// <summary>The number of WebSocket connections open now.</summary>
    public int OpenWebSockets => _server.OpenWebSockets;

    /// <summary>Stops gracefully: "stopping" handlers run (readiness already answers 503), then the drain: new requests get 503,
    /// open event streams are told to reconnect soon and end, WebSockets close with 1001, in-flight requests get
    /// <see cref="Settings.ShutdownTimeout"/>; then "shutdown" handlers run.</summary>
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
        _server.BeginStop();
        // Before the drain, while everything is still served: an app can fail its own readiness checks, deregister from a
        // load balancer or wait for it to notice (the built-in readiness endpoint already answers 503).
        foreach (var handler in _stoppingHandlers)
        {
            try
            {
                await handler();
            }
            catch (Exception e)
            {
                // The stop goes on: a failed "stopping" handler must not leave a process that neither serves nor exits.
                _server.Log.LogError(e, "A \"stopping\" handler failed; stopping anyway");
            }
        }
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
