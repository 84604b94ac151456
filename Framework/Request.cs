using System.Runtime.CompilerServices;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Bocata;

/// <summary>The incoming HTTP request handed to every handler as <c>req</c>.</summary>
public sealed class Request
{
    private readonly RequestContext _context;
    private byte[]? _body;
    private Uri? _url;
    private IReadOnlyDictionary<string, string>? _cookies;
    private ClientAddress? _client;
    private Form? _form;
    private bool _bodyStreamed;

    internal Request(RequestContext context) => _context = context;

    private Dictionary<string, string>? _bindingErrors;

    internal RouteValues RouteValues { get; } = new();

    // The route that matched (its pattern, under the mount it was found in): the `http.route` of metrics and traces.
    internal RoutePattern? MatchedPattern { get; set; }
    internal string MatchedBase { get; set; } = "";
    internal string? Route => MatchedPattern is null ? null : MatchedBase.Length == 0 ? MatchedPattern.Text : MatchedBase + MatchedPattern.Text;

    internal IServiceProvider RequestServices => _context.RequestServices;

    /// <summary>A provided value (<c>app.Provide</c>, <c>app.Services</c>) in this request's scope: what a typed handler parameter
    /// of that type receives, for a <c>(req, res)</c> handler (the way Native AOT apps read services).</summary>
    /// <exception cref="InvalidOperationException">Nothing of type <typeparamref name="T"/> is provided.</exception>
    public T Service<T>() where T : notnull =>
        (T?)RequestServices.GetService(typeof(T))
        ?? throw new InvalidOperationException($"No {typeof(T).Name} is provided: register it with app.Provide<{typeof(T).Name}>(...) or app.Services before the app starts.");

    internal RequestContext Context => _context;

    internal string RawTarget => _context.RequestFeature.RawTarget is { Length: > 0 } raw ? raw : PathBase + Path;

    internal bool HasSessionValue(string value) => _session is { } session && session.Values.Contains(value);

    internal bool HasBindingError(string name) => _bindingErrors?.ContainsKey(name) == true;

    internal void AddBindingError(string name, string message) => (_bindingErrors ??= new(StringComparer.Ordinal))[name] = message;

    internal void ThrowBindingErrors()
    {
        if (_bindingErrors is not { Count: > 0 } errors) return;
        _bindingErrors = null;
        throw new HttpError(400, errors);
    }

    internal void Reset()
    {
        _bindingErrors = null;
        _session = null;
        _user = null;
        Credential = CredentialKind.None;
        CredentialError = null;
        CredentialExpires = null;
        RouteValues.Clear();
        _body = null;
        _url = null;
        _cookies = null;
        _repeatedCookies = null;
        _client = null;
        _form = null;
        _bodyStreamed = false;
        _hasRouteBodyLimit = false;
        _routeBodyLimit = null;
        MatchedPattern = null;
        MatchedBase = "";
        PathParams = RouteValues.Empty;
        Path = "/";
        PathBase = "";
    }

    /// <summary>The HTTP method, upper-case (GET, POST, ...).</summary>
    public string Method => _context.RequestFeature.Method;

    /// <summary>The decoded path relative to the mount point that is serving the request, starting with '/'.</summary>
    public string Path { get; internal set; } = "/";

    /// <summary>The prefix of the mounts the request went through ("" at the top level).</summary>
    public string PathBase { get; internal set; } = "";

    /// <summary>The full request URL.</summary>
    public Uri Url => _url ??= BuildUrl();

    /// <summary>The request headers (case-insensitive, read-only).</summary>
    public Headers Headers { get; } = new(readOnly: true);

    /// <summary>The query string's parameters.</summary>
    public QueryParams QueryParams { get; } = new();

    /// <summary>The raw (string) values of the route's parameters.</summary>
    public IReadOnlyDictionary<string, string> PathParams { get; internal set; } = RouteValues.Empty;

    /// <summary>The request's cookies by name.</summary>
    public IReadOnlyDictionary<string, string> Cookies => _cookies ??= ParseCookies();

    /// <summary>The remote address and port.</summary>
    public ClientAddress Client => _client ??= _context.ClientAddress();

    /// <summary>The client's session (when sessions are on: <c>app.Configure(s => s.Sessions = true)</c>).</summary>
    public Session Session
    {
        get => _session ?? throw new InvalidOperationException("Sessions are off: turn them on with app.Configure(s => s.Sessions = true) and set SECRET_KEY.");
        internal set => _session = value;
    }

    private Session? _session;

    /// <summary>The signed-in user (a bearer JWT with <c>s.Jwt</c>, or the cookie of <c>res.SignIn</c>), never null: without a valid
    /// credential, an anonymous user whose <c>Identity.IsAuthenticated</c> is false. Middleware may set it (an API key, say).</summary>
    public ClaimsPrincipal User
    {
        get => _user ??= new ClaimsPrincipal(new ClaimsIdentity());
        set => _user = value ?? throw new ArgumentNullException(nameof(value), "req.User cannot be null: an anonymous user is new ClaimsPrincipal(new ClaimsIdentity()).");
    }

    private ClaimsPrincipal? _user;

    /// <summary>The signed-in user's name, without making an anonymous principal when there is none.</summary>
    internal string? UserName => _user?.Identity?.Name;

    /// <summary>Where <see cref="User"/> came from.</summary>
    internal CredentialKind Credential { get; set; }

    /// <summary>Why the credential sent was refused (for the 401's <c>error_description</c>), or null.</summary>
    internal string? CredentialError { get; set; }

    /// <summary>When the credential that signed the request in stops being accepted (the token's <c>exp</c> plus its clock skew,
    /// the cookie's lifetime), or null.</summary>
    internal DateTimeOffset? CredentialExpires { get; set; }

    /// <summary>The <see cref="Environment.TickCount64"/> at which a stream opened with this request's credential must end, or 0
    /// when it never has to (no credential, or one without expiry).</summary>
    internal long CredentialDeadlineMs()
    {
        if (CredentialExpires is not { } expires) return 0;
        var left = (expires - _context.Server.Settings.Clock.GetUtcNow()).TotalMilliseconds;
        return Environment.TickCount64 + (long)Math.Clamp(left, 1, long.MaxValue / 4);
    }

    /// <summary>The <c>Last-Event-ID</c> header sent by a reconnecting EventSource, or null.</summary>
    public string? LastEventId => Headers["Last-Event-ID"];

    /// <summary>Cancelled when the client disconnects or the server stops.</summary>
    public CancellationToken Aborted => _context.Aborted;

    /// <summary>The request body's bytes (read once, then cached).</summary>
    public Task<byte[]> BodyAsync() => ReadBodyAsync(null, null);

    /// <summary>Reads the body into one buffer: exactly its size when Content-Length says it, refusing a declared or actual size
    /// over <paramref name="limit"/> (413) before buffering more than that.</summary>
    private async Task<byte[]> ReadBodyAsync(long? limit, string? what)
    {
        if (_body is not null)
        {
            if (limit is { } max && _body.Length > max) throw TooLarge(max, what);
            return _body;
        }
        if (_bodyStreamed) throw new InvalidOperationException("The body was already consumed by StreamAsync() or FormAsync(); call BodyAsync() first if you need the bytes too.");
        var declared = _context.RequestFeature.Headers.ContentLength;
        if (limit is { } declaredMax && declared > declaredMax) throw TooLarge(declaredMax, what);
        _bodyStreamed = true;
        if (declared is { } length and <= int.MaxValue)
        {
            var exact = new byte[length];
            var filled = 0;
            await foreach (var chunk in ReadChunksAsync())
            {
                // Kestrel never delivers more than Content-Length; the guard keeps a miscount from overrunning.
                if (filled + chunk.Length > exact.Length) throw new HttpError(400, "The request body is longer than its Content-Length.");
                chunk.Span.CopyTo(exact.AsSpan(filled));
                filled += chunk.Length;
            }
            _bodyStreamed = false;
            return _body = filled == exact.Length ? exact : exact[..filled];
        }
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(16 * 1024);
        await foreach (var chunk in ReadChunksAsync())
        {
            if (limit is { } max && buffer.WrittenCount + chunk.Length > max) throw TooLarge(max, what);
            System.Buffers.BuffersExtensions.Write(buffer, chunk.Span);
        }
        _bodyStreamed = false;
        return _body = buffer.WrittenSpan.ToArray();
    }

    private static HttpError TooLarge(long limit, string? what) =>
        new(413, $"{what ?? "Request body"} too large: the limit is {limit} bytes.");

    /// <summary>The JSON limit for this request: the route's <c>MaxBodySize</c>, else <see cref="Settings.MaxJsonBodySize"/>.</summary>
    private long? JsonLimit => _hasRouteBodyLimit ? _routeBodyLimit : _context.Server.Settings.MaxJsonBodySize;

    private bool _hasRouteBodyLimit;
    private long? _routeBodyLimit;

    /// <summary>A route's <c>MaxBodySize</c>: the raw limit (Kestrel's, while the body is unread) and the JSON limit.</summary>
    internal void SetBodyLimit(long? bytes)
    {
        _hasRouteBodyLimit = true;
        _routeBodyLimit = bytes;
        _context.SetMaxRequestBodySize(bytes);
    }

    /// <summary>The request body decoded as text (charset from Content-Type, UTF-8 by default).</summary>
    public async Task<string> TextAsync()
    {
        var bytes = await BodyAsync();
        return BodyEncoding().GetString(bytes);
    }

    /// <summary>The body deserialized from JSON (the app's <see cref="Settings.Json"/> options) and validated. A body whose
    /// Content-Type is not <c>application/json</c> (charset allowed) or a <c>+json</c> type is <c>HttpError(415)</c>. Malformed JSON is
    /// <c>HttpError(400, "JSON is malformed.")</c>; an empty body, <c>null</c>, or a value of the wrong type is a 400 that says what
    /// was expected and where (<c>$.title: expected a string.</c>); missing <c>required</c> members and failed DataAnnotations are
    /// <c>HttpError(400)</c> whose detail maps each member to its message.</summary>
    public async Task<T> JsonAsync<[System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(JsonValidation.Members)] T>()
    {
        RequireJsonContentType();
        var bytes = await ReadBodyAsync(JsonLimit, "JSON body");
        return JsonValidation.Read<T>(bytes, _context.Server.Settings.Json, "body");
    }

    /// <summary>Only a JSON media type (<c>application/json</c>, or a <c>+json</c> one such as <c>application/problem+json</c>)
    /// is read as JSON: a page of another site can send text/plain, a form or no type at all without a CORS preflight (a
    /// <c>&lt;form enctype="text/plain"&gt;</c> makes <c>{"user":…}=</c> a body), so accepting those lets it act as the user.</summary>
    private void RequireJsonContentType()
    {
        var contentType = Headers["Content-Type"];
        if (contentType is null) throw new HttpError(415, "Expected a JSON body: send Content-Type: application/json (the request has no Content-Type).");
        if (Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var mediaType))
        {
            if (mediaType.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
                || mediaType.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase))
                return;
            throw new HttpError(415, $"Expected a JSON body: send Content-Type: application/json, not {Sanitize(mediaType.MediaType.ToString())}.");
        }
        throw new HttpError(415, "Expected a JSON body: send Content-Type: application/json, not (invalid).");
    }

    /// <summary>The body parsed as a JSON document (Content-Type <c>application/json</c> or a <c>+json</c> type, else 415).</summary>
    public Task<JsonElement> JsonAsync() => JsonAsync<JsonElement>();

    /// <summary>The body parsed as a form (urlencoded or multipart, with files).</summary>
    public async Task<Form> FormAsync()
    {
        if (_form is not null) return _form;
        if (_bodyStreamed) throw new InvalidOperationException("The body was already consumed by StreamAsync(); read the form first, or stream only.");
        // Parsed as it arrives (never the whole body in memory) unless BodyAsync already buffered it.
        Stream source;
        if (_body is not null) source = new MemoryStream(_body, writable: false);
        else
        {
            _bodyStreamed = true;
            source = new GuardedBodyStream(_context.BodyReader, _context.Server.Settings.RequestBodyIdleTimeout);
        }
        await using (source)
        {
            try
            {
                return _form = await FormParser.ParseAsync(Headers["Content-Type"], source, _context.Server.Settings, _context.Server.Uploads, _context.DisposeAtEnd, Aborted);
            }
            catch (BadHttpRequestException e)
            {
                throw BodyReadError(e);
            }
        }
    }

    /// <summary>Streams the body chunk by chunk as it arrives, without buffering it.</summary>
    public async IAsyncEnumerable<byte[]> StreamAsync()
    {
        if (_body is not null)
        {
            if (_body.Length > 0) yield return _body;
            yield break;
        }
        _bodyStreamed = true;
        await foreach (var chunk in ReadChunksAsync())
            yield return chunk.ToArray();
    }

    private async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadChunksAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        var reader = _context.BodyReader;
        // A read that gets nothing for RequestBodyIdleTimeout is a 408, whatever the average rate so far.
        var idle = _context.Server.Settings.RequestBodyIdleTimeout;
        while (true)
        {
            System.IO.Pipelines.ReadResult result;
            try
            {
                result = await GuardedBodyStream.ReadAsync(reader, idle, ct);
            }
            catch (BadHttpRequestException e)
            {
                throw BodyReadError(e);
            }
            catch (IOException) when (!ct.IsCancellationRequested && !_context.ClientGone)
            {
                // Kestrel's chunked parser answers some malformed framing (a chunk size that overflows) with a plain IOException.
                throw new HttpError(400, "The request body is malformed.");
            }
            var buffer = result.Buffer;
            foreach (var segment in buffer) yield return segment;
            reader.AdvanceTo(buffer.End);
            if (result.IsCompleted || result.IsCanceled) break;
        }
    }

    /// <summary>Kestrel's refusal of the body (too large, too slow, malformed chunking) as a 4xx with our own words.</summary>
    private HttpError BodyReadError(BadHttpRequestException e) => new(e.StatusCode, e.StatusCode switch
    {
        413 => $"Request body too large: the limit is {_context.MaxRequestBodySize} bytes.",
        408 => "The request body arrived too slowly.",
        _ => "The request body is malformed.",
    });

    /// <summary>The charset the Content-Type names (UTF-8 when none): a charset .NET does not know, or UTF-7 (a classic filter
    /// bypass), is 415 rather than a guess.</summary>
    private Encoding BodyEncoding()
    {
        var contentType = Headers["Content-Type"];
        if (contentType is null || !Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var mediaType)) return Encoding.UTF8;
        var charset = Microsoft.Net.Http.Headers.HeaderUtilities.RemoveQuotes(mediaType.Charset).ToString();
        if (charset.Length == 0) return Encoding.UTF8;
        if (!charset.Replace("-", "", StringComparison.Ordinal).Equals("utf7", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                return Encoding.GetEncoding(charset);
            }
            catch (ArgumentException)
            {
            }
        }
        throw new HttpError(415, $"Unsupported charset '{Sanitize(charset)}': send the body as UTF-8.");
    }

    private static string Sanitize(string value) =>
        value.Length <= 40 && value.All(c => c is > ' ' and < (char)127) ? value : "(invalid)";

    /// <summary>The scheme the client used (<c>req.Url</c>'s): the connection's, or a trusted proxy's <c>X-Forwarded-Proto</c>;
    /// without building the URL, for the session cookie on every request.</summary>
    internal string Scheme =>
        _context.FromTrustedProxy && Forwarding.Scheme(Headers["X-Forwarded-Proto"]) is { } forwarded ? forwarded : _context.RequestFeature.Scheme;

    private Uri BuildUrl()
    {
        var f = _context.RequestFeature;
        var scheme = Scheme;
        var host = Headers["Host"];
        if (_context.FromTrustedProxy) host = Forwarding.Host(Headers["X-Forwarded-Host"]) ?? host;
        if (string.IsNullOrEmpty(host)) host = _context.LocalAuthority();
        var target = f.RawTarget is ['/', ..] raw ? raw : AbsoluteFormPath(f.RawTarget) ?? f.PathBase + f.Path + f.QueryString;
        return Uri.TryCreate($"{scheme}://{host}{target}", UriKind.Absolute, out var uri)
            ? uri
            : new Uri($"{scheme}://{_context.LocalAuthority()}/");
    }

    /// <summary>The path and query of an absolute-form target (<c>GET http://host/path?q HTTP/1.1</c>, RFC 9112 section 3.2.2;
    /// Kestrel has already checked that it names the Host), or null for any other form.</summary>
    private static string? AbsoluteFormPath(string? target)
    {
        if (string.IsNullOrEmpty(target)) return null;
        var scheme = target.IndexOf("://", StringComparison.Ordinal);
        if (scheme <= 0) return null;
        var rest = target.AsSpan(scheme + 3);
        var end = rest.IndexOfAny('/', '?');
        if (end < 0) return "/";
        return rest[end] == '/' ? rest[end..].ToString() : "/" + rest[end..].ToString();
    }

    /// <summary>How many cookies named <paramref name="name"/> the request carried: <see cref="Cookies"/> keeps the last, which
    /// is not necessarily the app's own (a cookie of a parent domain, or of a longer path, is sent beside it).</summary>
    internal int CookieCount(string name)
    {
        if (!Cookies.ContainsKey(name)) return 0;
        return _repeatedCookies is { } repeated && repeated.TryGetValue(name, out var count) ? count : 1;
    }

    private Dictionary<string, int>? _repeatedCookies;

    private Dictionary<string, string> ParseCookies()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        _repeatedCookies = null;
        var header = Headers.GetAll("Cookie");
        if (header.Count == 0) return result;
        if (Microsoft.Net.Http.Headers.CookieHeaderValue.TryParseList(header.ToList(), out var cookies))
        {
            foreach (var c in cookies)
            {
                var name = c.Name.Value ?? "";
                if (result.ContainsKey(name))
                {
                    _repeatedCookies ??= new(StringComparer.Ordinal);
                    _repeatedCookies[name] = _repeatedCookies.GetValueOrDefault(name, 1) + 1;
                }
                result[name] = Uri.UnescapeDataString(c.Value.Value ?? "");
            }
        }
        return result;
    }
}
