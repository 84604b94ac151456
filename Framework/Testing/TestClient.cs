using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;

namespace Bocata.Testing;

/// <summary>An <see cref="HttpClient"/> against the app served by real Kestrel on a free loopback port. Dispose it with <c>await using</c>.</summary>
public sealed class TestClient : HttpClient, IAsyncDisposable
{
    private readonly RunningApp _running;

    internal TestClient(RunningApp running)
        : base(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            // Leaving a stream early closes the connection at once instead of draining it for up to 2 s: the app sees the disconnect now.
            MaxResponseDrainSize = 0,
        })
    {
        _running = running;
        BaseAddress = new Uri(running.Url);
        Timeout = TimeSpan.FromSeconds(30);
    }

    /// <summary>The running app behind the client.</summary>
    public RunningApp Server => _running;

    /// <summary>Reads an event stream as parsed events until it ends or <paramref name="cancellationToken"/> fires.</summary>
    public async IAsyncEnumerable<ServerEvent> EventsAsync(string path, string? lastEventId = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        using var response = await SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        response.EnsureSuccessStatusCode();
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        var parser = SseParser.Create(stream);
        await foreach (var item in parser.EnumerateAsync(cancellationToken))
        {
            yield return new ServerEvent(
                name: item.EventType == SseParser.EventTypeDefault ? null : item.EventType,
                data: item.Data,
                id: item.EventId,
                retry: item.ReconnectionInterval is { } retry ? (int)retry.TotalMilliseconds : null);
        }
    }

    /// <summary>Opens a WebSocket to <paramref name="path"/> on the app; dispose it when done.</summary>
    public async Task<System.Net.WebSockets.ClientWebSocket> WebSocketConnectAsync(string path, CancellationToken cancellationToken = default)
    {
        var socket = new System.Net.WebSockets.ClientWebSocket();
        var uri = new UriBuilder(new Uri(BaseAddress!, path)) { Scheme = BaseAddress!.Scheme == "https" ? "wss" : "ws" }.Uri;
        try
        {
            await socket.ConnectAsync(uri, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Stops the server, then disposes the client.</summary>
    public async ValueTask DisposeAsync()
    {
        CancelPendingRequests();
        await _running.StopAsync();
        Dispose();
    }
}

/// <summary>Creates test clients.</summary>
public static class AppTestingExtensions
{
    /// <summary>Starts <paramref name="app"/> on real Kestrel on a free loopback port and returns a client for it.</summary>
    public static TestClient CreateClient(this App app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var running = app.StartAsync("127.0.0.1", 0, printUrl: false, CancellationToken.None).GetAwaiter().GetResult();
        return new TestClient(running);
    }
}
