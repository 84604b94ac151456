using System.Security.Claims;

namespace Bocata;

/// <summary>The response handed to every handler as <c>res</c>: mutate it; it is written to the wire once, at the end.</summary>
public sealed class Response
{
    private List<Func<Task>>? _background;

    internal Response() => Cookies = new ResponseCookies(Headers);

    internal void Reset()
    {
        StatusCode = 200;
        Kind = BodyKind.None;
        Body = null;
        DefaultMediaType = null;
        Chunked = false;
        _background?.Clear();
        Ping = null;
        SignInChange = null;
        NotLogged = false;
    }

    /// <summary>A successful health probe: left out of the access log, which probes every few seconds would flood.</summary>
    internal bool NotLogged { get; set; }

    /// <summary>Clears status, headers and body (used before an error handler writes its own response).</summary>
    internal void Clear()
    {
        // Background tasks survive an error (Bocadillo runs them): set the list aside so Reset cannot empty it.
        var keepBackground = _background;
        _background = null;
        // A sign-in survives too: a Redirect after it (POST, then redirect) is the usual way to end a login. The sign-in cookie
        // is sent only when the final status is below 400 (a failed request never signs anyone in).
        var keepSignIn = SignInChange;
        Reset();
        _background = keepBackground;
        SignInChange = keepSignIn;
        Headers.Clear();
    }

    /// <summary>The status code (default 200).</summary>
    public int StatusCode
    {
        get;
        set => field = value is >= 100 and <= 999 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "An HTTP status code must be a three-digit number (100-999).");
    } = 200;

    /// <summary>The response headers (case-insensitive; <c>Append</c> for repeated headers).</summary>
    public Headers Headers { get; } = new(readOnly: false);

    /// <summary>Sets cookies through Set-Cookie headers.</summary>
    public ResponseCookies Cookies { get; }

    /// <summary>A plain-text body (<c>text/plain; charset=utf-8</c>).</summary>
    public string? Text
    {
        get => Kind == BodyKind.Text && DefaultMediaType == MediaTypes.Text ? (string?)Body : null;
        set => SetBody(BodyKind.Text, value, MediaTypes.Text);
    }

    /// <summary>An HTML body (<c>text/html; charset=utf-8</c>).</summary>
    public string? Html
    {
        get => Kind == BodyKind.Text && DefaultMediaType == MediaTypes.Html ? (string?)Body : null;
        set => SetBody(BodyKind.Text, value, MediaTypes.Html);
    }

    /// <summary>A JSON body (<c>application/json</c>), serialized with System.Text.Json's web defaults.</summary>
    public object? Json
    {
        get => Kind == BodyKind.Json ? Body : null;
        set => SetBody(BodyKind.Json, value, MediaTypes.Json);
    }

    /// <summary>A raw byte body; set Content-Type yourself (it is <c>text/plain</c> otherwise, as in Bocadillo).</summary>
    public byte[]? Content
    {
        get => Kind == BodyKind.Bytes ? (byte[]?)Body : null;
        set => SetBody(BodyKind.Bytes, value, "text/plain");
    }

    /// <summary>When true, no Content-Length is sent and the body is sent chunked.</summary>
    public bool Chunked { get; set; }

    /// <summary>Sets <c>Content-Disposition: attachment</c> with this file name.</summary>
    public string? Attachment
    {
        get => Headers["Content-Disposition"] is { } v && v.StartsWith("attachment", StringComparison.Ordinal) ? v : null;
        set => Headers["Content-Disposition"] = value is null ? null : ContentDisposition.Attachment(value);
    }

    /// <summary>Sends the file <paramref name="relativePath"/> names under <paramref name="root"/> — the safe form for a path that came
    /// from the request (<c>{name:path}</c>): an absolute path, <c>..</c>, or a link leading out of <paramref name="root"/> is a 404.</summary>
    public void File(string root, string relativePath, bool attach = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        ArgumentNullException.ThrowIfNull(relativePath);
        var (full, withSeparator) = Static.Root(root);
        File(Static.Resolve(full, withSeparator, relativePath, directoryIndex: false) ?? throw new HttpError(404), attach);
    }

    /// <summary>Sends a file: content type from its extension, ETag and Last-Modified, 304 and Range (206) support. As in Bocadillo,
    /// it is an attachment (a download, <c>Content-Disposition: attachment</c>) unless <paramref name="attach"/> is false (shown inline).</summary>
    public void File(string path, bool attach = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var info = new FileInfo(ContentRoot.Resolve(path));
        // A symbolic link reports its own size and date: send what it points to.
        if (info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target) info = target;
        if (!info.Exists) throw new FileNotFoundException($"res.File: no file at '{info.FullName}' (a relative path is found under ContentRoot.Directory, '{ContentRoot.Directory}': copy the file there with CopyToOutputDirectory).", info.FullName);
        SetBody(BodyKind.File, info, null);
        if (attach) Attachment = Path.GetFileName(path);
    }

    /// <summary>Streams the items as they are produced; each item is written and flushed.</summary>
    public void Stream(IAsyncEnumerable<string> chunks) => SetStream(chunks);

    /// <summary>Streams the items as they are produced; each item is written and flushed.</summary>
    public void Stream(IAsyncEnumerable<byte[]> chunks) => SetStream(chunks);

    /// <summary>Streams the items as they are produced; each item is written and flushed.</summary>
    public void Stream(IAsyncEnumerable<ReadOnlyMemory<byte>> chunks) => SetStream(chunks);

    /// <summary>Sends the events as a <c>text/event-stream</c>, each flushed as it is yielded, with a <c>: ping</c> comment after <paramref name="ping"/> (default 15 s) of silence.</summary>
    public void EventStream(IAsyncEnumerable<ServerEvent> events, TimeSpan? ping = null)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (ping is { } p && p <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(ping), p, "ping must be a positive interval, e.g. TimeSpan.FromSeconds(15).");
        SetBody(BodyKind.EventStream, events, MediaTypes.EventStream);
        Ping = ping;
    }

    /// <summary>Signs <paramref name="user"/> in for <paramref name="lifetime"/> (default 14 days): an HttpOnly, SameSite=Lax cookie
    /// (Secure on https), encrypted and authenticated with the app's secret, that later requests read as <c>req.User</c>. Needs
    /// <c>s.AuthCookie = true</c>. Sign in only after checking a password or another proof of who the user is.</summary>
    public void SignIn(ClaimsPrincipal user, TimeSpan? lifetime = null)
    {
        ArgumentNullException.ThrowIfNull(user);
        EnsureCookieSignIn("SignIn");
        if (user.Identity is not ClaimsIdentity { IsAuthenticated: true })
            throw new ArgumentException("The user is not authenticated: give its ClaimsIdentity an authentication type, e.g. new ClaimsIdentity(claims, \"password\").", nameof(user));
        var span = lifetime ?? TimeSpan.FromDays(14);
        if (span <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(lifetime), span, "The sign-in lifetime must be positive, e.g. TimeSpan.FromHours(8).");
        SignInChange = (user, span);
    }

    /// <summary>Signs the user out: the sign-in cookie is cleared.</summary>
    public void SignOut()
    {
        EnsureCookieSignIn("SignOut");
        SignInChange = (null, TimeSpan.Zero);
    }

    private void EnsureCookieSignIn(string what)
    {
        if (Identity is not { CookieSignIn: true })
            throw new InvalidOperationException($"res.{what} needs cookie sign-in: turn it on with app.Configure(s => s.AuthCookie = true) and set SECRET_KEY.");
    }

    /// <summary>The app's authenticator, when identity is on (set for each request).</summary>
    internal Authenticator? Identity { get; set; }

    /// <summary>A sign-in (a user) or sign-out (null) to write as the response's cookie.</summary>
    internal (ClaimsPrincipal? User, TimeSpan Lifetime)? SignInChange { get; private set; }

    /// <summary>Runs <paramref name="work"/> after the response has been sent.</summary>
    public void Background(Func<Task> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        (_background ??= []).Add(work);
    }

    internal BodyKind Kind { get; private set; }
    internal object? Body { get; private set; }
    internal string? DefaultMediaType { get; private set; }
    internal TimeSpan? Ping { get; private set; }
    internal List<Func<Task>>? BackgroundTasks => _background is { Count: > 0 } ? _background : null;

    private void SetStream(object chunks)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        SetBody(BodyKind.Stream, chunks, null);
    }

    private void SetBody(BodyKind kind, object? body, string? mediaType)
    {
        if (body is Task or ValueTask || body?.GetType() is { IsGenericType: true } t && t.GetGenericTypeDefinition() == typeof(ValueTask<>))
            throw new ArgumentException($"The response body is a {body!.GetType().Name}, not its result: add await, e.g. res.Json = await req.JsonAsync<T>();");
        if (body is null)
        {
            Kind = BodyKind.None;
            Body = null;
            DefaultMediaType = null;
            return;
        }
        Kind = kind;
        Body = body;
        DefaultMediaType = mediaType;
    }
}

internal enum BodyKind
{
    None,
    Text,
    Json,
    Bytes,
    File,
    Stream,
    EventStream,
}

internal static class MediaTypes
{
    public const string Text = "text/plain; charset=utf-8";
    public const string Html = "text/html; charset=utf-8";
    public const string Json = "application/json";
    public const string EventStream = "text/event-stream";
}
