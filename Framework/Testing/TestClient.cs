using System.Runtime.CompilerServices;

namespace Bocata.Testing;

/// <summary>An <see cref="HttpClient"/> against the app served by real Kestrel on a free loopback port. Dispose it with <c>await using</c>.</summary>
public sealed class TestClient : HttpClient, IAsyncDisposable
{
    private readonly RunningApp _running;

    internal TestClient(RunningApp running)
        : this(running, new System.Net.CookieContainer())
    {
    }

    private TestClient(RunningApp running, System.Net.CookieContainer cookies)
        : base(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            // Cookies the app sets are kept and sent back, as a browser (and WebApplicationFactory's client) does: a test logs in once.
            UseCookies = true,
            CookieContainer = cookies,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            // Leaving a stream early closes the connection at once instead of draining it for up to 2 s: the app sees the disconnect now.
            MaxResponseDrainSize = 0,
        })
    {
        _running = running;
        Cookies = cookies;
        BaseAddress = new Uri(running.Url);
        Timeout = TimeSpan.FromSeconds(30);
    }

    /// <summary>The running app behind the client.</summary>
    public RunningApp Server => _running;

    /// <summary>The cookies the app set, sent back with every request (a logged-in test logs in once).</summary>
    public System.Net.CookieContainer Cookies { get; }

    /// <summary>Reads an event stream as parsed events until it ends or <paramref name="cancellationToken"/> fires. It connects
    /// on the first read; to publish only once the stream is surely subscribed, use <see cref="OpenEventsAsync(string, string?, CancellationToken)"/>.</summary>
    public async IAsyncEnumerable<ServerEvent> EventsAsync(string path, string? lastEventId = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var stream = await OpenEventsAsync(path, lastEventId, cancellationToken);
        await foreach (var e in stream.WithCancellation(cancellationToken)) yield return e;
    }

    /// <summary>Reads the event stream of <paramref name="request"/> (your headers, method and body), as <see cref="EventsAsync(string, string?, CancellationToken)"/>.</summary>
    public async IAsyncEnumerable<ServerEvent> EventsAsync(HttpRequestMessage request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var stream = await OpenEventsAsync(request, cancellationToken);
        await foreach (var e in stream.WithCancellation(cancellationToken)) yield return e;
    }

    /// <summary>Opens an event stream and returns once its headers arrived — the handler has run, so a hub subscription is
    /// registered and nothing published from now on is missed. Read it with <c>await foreach</c>; dispose it to close.</summary>
    /// <exception cref="HttpRequestException">The app did not answer 200 (the exception's StatusCode says what it answered).</exception>
    public Task<EventConnection> OpenEventsAsync(string path, string? lastEventId = null, CancellationToken cancellationToken = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        return OpenEventsAsync(request, cancellationToken);
    }

    /// <summary>Opens the event stream of <paramref name="request"/> (see <see cref="OpenEventsAsync(string, string?, CancellationToken)"/>).</summary>
    public async Task<EventConnection> OpenEventsAsync(HttpRequestMessage request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Headers.Accept.Count == 0) request.Headers.Accept.ParseAdd("text/event-stream");
        var response = await SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        try
        {
            response.EnsureSuccessStatusCode();
            return new EventConnection(request, response, await response.Content.ReadAsStreamAsync(cancellationToken));
        }
        catch
        {
            response.Dispose();
            request.Dispose();
            throw;
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

/// <summary>An open event stream (from <see cref="TestClient.OpenEventsAsync(string, string?, CancellationToken)"/>): read it with
/// <c>await foreach</c>, once; dispose it to close the connection. Events are parsed as a browser does; an explicit
/// <c>event: message</c> keeps its name.</summary>
public sealed class EventConnection : IAsyncEnumerable<ServerEvent>, IAsyncDisposable
{
    private readonly HttpRequestMessage _request;
    private readonly HttpResponseMessage _response;
    private readonly Stream _body;
    private int _read;

    internal EventConnection(HttpRequestMessage request, HttpResponseMessage response, Stream body)
    {
        _request = request;
        _response = response;
        _body = body;
    }

    /// <summary>The response's headers (Content-Type, Cache-Control, X-Instance, ...).</summary>
    public HttpResponseMessage Response => _response;

    /// <inheritdoc />
    public async IAsyncEnumerator<ServerEvent> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _read, 1) == 1) throw new InvalidOperationException("An event stream can be read once; open another for a second reader.");
        using var reader = new StreamReader(_body, System.Text.Encoding.UTF8);
        string? name = null, id = null;
        int? retry = null;
        System.Text.StringBuilder? data = null;
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0)
            {
                // A blank line dispatches the event (a block with no data is not an event, as in EventSource).
                if (data is not null) yield return new ServerEvent(name: name, data: data.ToString(), id: id, retry: retry);
                name = null;
                data = null;
                retry = null;
                continue;
            }
            if (line[0] == ':') continue;
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' ')) value = value[1..];
            switch (field)
            {
                case "event": name = value; break;
                case "data": (data is null ? data = new System.Text.StringBuilder() : data.Append('\n')).Append(value); break;
                case "id" when !value.Contains('\0', StringComparison.Ordinal): id = value; break;
                case "retry" when int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ms): retry = ms; break;
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _body.DisposeAsync();
        _response.Dispose();
        _request.Dispose();
    }
}
