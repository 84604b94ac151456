using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Bocata;

/// <summary>One request's state, reused for every request of a Kestrel connection. The only holder of Kestrel's features.</summary>
internal sealed class RequestContext
{
    private CancellationTokenSource? _aborted;
    private AsyncServiceScope? _scope;
    private List<IDisposable>? _disposeAtEnd;
    private IFeatureCollection _features = null!;

    public RequestContext(ServerState server)
    {
        Server = server;
        Request = new Request(this);
        Response = new Response();
    }

    public ServerState Server { get; }
    public Request Request { get; }
    public Response Response { get; }
    public IHttpRequestFeature RequestFeature { get; private set; } = null!;
    public IHttpResponseFeature ResponseFeature { get; private set; } = null!;
    public IHttpResponseBodyFeature BodyFeature { get; private set; } = null!;
    /// <summary>The connection's buffer for JSON bodies, made on first use: a connection that only streams events never pays
    /// for it (about 300 B held for the connection's life).</summary>
    public System.Buffers.ArrayBufferWriter<byte> Buffer => _buffer ??= new(256);

    private System.Buffers.ArrayBufferWriter<byte>? _buffer;

    /// <summary>A connection that once answered with a large body should not keep that buffer for every later request.</summary>
    public void ReleaseLargeBuffer()
    {
        if (_buffer is { Capacity: > 64 * 1024 }) _buffer = null;
    }
    private IHttpRequestLifetimeFeature? _lifetime;

    public void Initialize(IFeatureCollection features)
    {
        _features = features;
        RequestFeature = features.GetRequiredFeature<IHttpRequestFeature>();
        ResponseFeature = features.GetRequiredFeature<IHttpResponseFeature>();
        BodyFeature = features.GetRequiredFeature<IHttpResponseBodyFeature>();
        _lifetime = features.Get<IHttpRequestLifetimeFeature>();
        Request.Headers.Attach(RequestFeature.Headers);
        Request.QueryParams.Attach(RequestFeature.QueryString);
        Request.Path = RequestFeature.Path.Length == 0 ? "/" : RequestFeature.Path;
        Response.Headers.Attach(ResponseFeature.Headers);
    }

    public bool IsHead => RequestFeature.Method == "HEAD";

    /// <summary>Cancelled when the client disconnects or the server stops.</summary>
    public CancellationToken Aborted
    {
        get
        {
            if (_aborted is null)
            {
                var clientGone = _lifetime?.RequestAborted ?? CancellationToken.None;
                _aborted = CancellationTokenSource.CreateLinkedTokenSource(clientGone, Server.Stopping);
            }
            return _aborted.Token;
        }
    }

    public PipeReader BodyReader => _features.GetRequiredFeature<IRequestBodyPipeFeature>().Reader;

    public long? MaxRequestBodySize => _features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;

    /// <summary>Kestrel's raw body limit for this request; it can change only until the body starts being read.</summary>
    public void SetMaxRequestBodySize(long? bytes)
    {
        if (_features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature) feature.MaxRequestBodySize = bytes;
    }

    public IServiceProvider RequestServices
    {
        get
        {
            if (_scope is { } scope) return scope.ServiceProvider;
            var created = Server.Services.CreateAsyncScope();
            _scope = created;
            // Disposed by Kestrel after the response completed, awaited there: a slow async dispose never blocks a pool thread.
            ResponseFeature.OnCompleted(static s => ((AsyncServiceScope)s).DisposeAsync().AsTask(), created);
            return created.ServiceProvider;
        }
    }

    /// <summary>Whatever the request created that must end with it (a hub subscription), whichever way the request ended.</summary>
    public void DisposeAtEnd(IDisposable disposable) => (_disposeAtEnd ??= []).Add(disposable);

    public void Abort() => _lifetime?.Abort();

    /// <summary>The client disconnected (as opposed to the server stopping).</summary>
    public bool ClientGone => ClientAborted.IsCancellationRequested;

    /// <summary>An HTTP/2 extended CONNECT (RFC 8441), the way browsers open a WebSocket over HTTP/2; null otherwise.</summary>
    public IHttpExtendedConnectFeature? ExtendedConnect => _features.Get<IHttpExtendedConnectFeature>() is { IsExtendedConnect: true } f ? f : null;

    /// <summary>Cancelled when the client disconnects (not when the server stops).</summary>
    public CancellationToken ClientAborted => _lifetime?.RequestAborted ?? CancellationToken.None;

    public IHttpUpgradeFeature? UpgradeFeature => _features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true } f ? f : null;

    public ClientAddress ClientAddress()
    {
        var connection = _features.Get<IHttpConnectionFeature>();
        if (FromTrustedProxy && Forwarding.Client(Server.TrustedProxies, Request.Headers["X-Forwarded-For"]) is { } client)
            return new ClientAddress(client, 0);
        return new ClientAddress(connection?.RemoteIpAddress?.ToString() ?? "", connection?.RemotePort ?? 0);
    }

    /// <summary>The connection comes from a configured proxy: its X-Forwarded-* headers are believed.</summary>
    public bool FromTrustedProxy => Server.TrustedProxies.Length > 0 && Forwarding.IsTrusted(Server.TrustedProxies, _features.Get<IHttpConnectionFeature>()?.RemoteIpAddress);

    public string LocalAuthority()
    {
        var connection = _features.Get<IHttpConnectionFeature>();
        var address = connection?.LocalIpAddress ?? IPAddress.Loopback;
        return new IPEndPoint(address, connection?.LocalPort ?? 80).ToString();
    }

    /// <summary>True once a stream outlived its request (a generator that ignores its token still holds <c>req</c> and <c>res</c>):
    /// the context is detached from Kestrel's features at the end of the request and never reused for another one.</summary>
    public bool IsAbandoned { get; private set; }

    public void Abandon() => IsAbandoned = true;

    public void Reset()
    {
        _scope = null;
        if (_disposeAtEnd is { } list)
        {
            foreach (var disposable in list) disposable.Dispose();
            list.Clear();
        }
        ResetCore();
        if (IsAbandoned) Initialize(Detached());
    }

    /// <summary>Empty features of our own: what an abandoned <c>req</c> reads from now on, whatever Kestrel does with its own.</summary>
    private static FeatureCollection Detached()
    {
        var features = new FeatureCollection();
        features.Set<IHttpRequestFeature>(new HttpRequestFeature { Method = "", Path = "/" });
        features.Set<IHttpResponseFeature>(new HttpResponseFeature());
        features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(Stream.Null));
        return features;
    }

    private void ResetCore()
    {
        _aborted?.Dispose();
        _aborted = null;
        Request.Reset();
        Response.Reset();
        _features = null!;
    }
}
