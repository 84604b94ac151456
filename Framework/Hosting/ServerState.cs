using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>What a running server shares with its requests: the compiled pipeline, settings, loggers and the stop signal.</summary>
internal sealed class ServerState(App app, Handler pipeline, Settings settings, ILoggerFactory loggers, IServiceProvider services) : IDisposable
{
    private readonly CancellationTokenSource _stopping = new();

    public App App { get; } = app;
    public Handler Pipeline { get; } = pipeline;
    public Settings Settings { get; } = settings;
    public IServiceProvider Services { get; } = services;
    public AccessLog? AccessLog { get; } = AccessLog.Create(settings, loggers);

    /// <summary>Where forwarded headers may come from (parsed once).</summary>
    public System.Net.IPNetwork[] TrustedProxies { get; } = Forwarding.ParseProxies(settings.TrustedProxies);
    public ILogger Log { get; } = loggers.CreateLogger("Bocata");

    /// <summary>Refused WebSocket handshakes, logged with their reason at most once per origin per minute.</summary>
    public HandshakeRefusals HandshakeRefusals { get; } = new(loggers.CreateLogger("Bocata"), settings.Clock);
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>Bytes of uploads in temporary files now, across requests (bounded by <see cref="Settings.MaxUploadTempBytes"/>).</summary>
    public UploadBudget Uploads { get; } = new(settings.MaxUploadTempBytes);

    /// <summary>One tick for every open stream (pings, stuck flushes) instead of a timer each.</summary>
    public Heartbeat Heartbeat { get; } = new();

    /// <summary>Live event and response streams, so stop can report what it cancelled.</summary>
    public int OpenStreams => Volatile.Read(ref _openStreams);
    private int _openStreams;

    public void StreamOpened()
    {
        Interlocked.Increment(ref _openStreams);
        Telemetry.ActiveStreams.Add(1);
    }

    public void StreamClosed()
    {
        Interlocked.Decrement(ref _openStreams);
        Telemetry.ActiveStreams.Add(-1);
    }

    /// <summary>WebSocket connections open now (accepted, not yet closed).</summary>
    public int OpenWebSockets => Volatile.Read(ref _openWebSockets);
    private int _openWebSockets;

    public void WebSocketOpened()
    {
        Interlocked.Increment(ref _openWebSockets);
        Telemetry.WebSocketConnections.Add(1);
    }

    public void WebSocketClosed()
    {
        Interlocked.Decrement(ref _openWebSockets);
        Telemetry.WebSocketConnections.Add(-1);
    }

    /// <summary>A stop has begun ("stopping" handlers run, then the drain): readiness answers 503 from here on.</summary>
    public bool StopBegun => Volatile.Read(ref _stopBegun) != 0;
    private int _stopBegun;

    public void BeginStop() => Volatile.Write(ref _stopBegun, 1);

    /// <summary>The drain begins: new requests are refused with 503, streams end, WebSockets close.</summary>
    public void SignalStop()
    {
        BeginStop();
        _stopping.Cancel();
    }

    public void Dispose()
    {
        Heartbeat.Dispose();
        AccessLog?.Dispose();
        _stopping.Dispose();
    }
}

/// <summary>The bytes of uploads held in temporary files at once, across requests: past the limit an upload is refused.</summary>
internal sealed class UploadBudget(long? limit)
{
    private long _used;

    public long Used => Interlocked.Read(ref _used);

    /// <summary>Takes <paramref name="bytes"/> more, or refuses (nothing taken) when that would pass the limit.</summary>
    public bool TryTake(long bytes)
    {
        if (limit is not { } max)
        {
            Interlocked.Add(ref _used, bytes);
            return true;
        }
        while (true)
        {
            var used = Interlocked.Read(ref _used);
            if (used + bytes > max) return false;
            if (Interlocked.CompareExchange(ref _used, used + bytes, used) == used) return true;
        }
    }

    public void Give(long bytes) => Interlocked.Add(ref _used, -bytes);
}
