using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>App settings, changed once with <c>app.Configure(s => ...)</c> before the app starts serving.</summary>
public sealed class Settings
{
    /// <summary>Host names the app answers (<c>Host</c> header); others get 400. Default: any.</summary>
    public IList<string> AllowedHosts { get; set; } = ["*"];

    /// <summary>Folder served at <see cref="StaticRoot"/> when it exists (default "static"); null turns it off.</summary>
    public string? StaticDir { get; set; } = DefaultStaticDir;

    internal const string DefaultStaticDir = "static";

    /// <summary>URL prefix of the static folder (default "/static").</summary>
    public string StaticRoot { get; set; } = "/static";

    /// <summary>Redirect (302) a path without its trailing slash to the slashed route when only that one exists. Default on.</summary>
    public bool RedirectTrailingSlash { get; set; } = true;

    /// <summary>Largest accepted request body in bytes; larger bodies get 413. Default 30 MB; null means no limit.</summary>
    public long? MaxRequestBodySize { get; set; } = 30_000_000;

    /// <summary>Largest body <c>req.JsonAsync()</c> parses, in bytes (413 past it, before the rest is read). A parsed document costs
    /// several times its size in memory, so this is far below <see cref="MaxRequestBodySize"/>. Default 1 MB; null means only
    /// <see cref="MaxRequestBodySize"/> applies. Raise it for one route with <c>app.Post(...).MaxBodySize(bytes)</c>.</summary>
    public long? MaxJsonBodySize { get; set; } = 1024 * 1024;

    /// <summary>The app's JSON options, for <c>res.Json</c>, <c>req.JsonAsync</c>, error details and WebSocket JSON:
    /// System.Text.Json's web defaults (camelCase, case-insensitive reading) with non-ASCII text unescaped. Change them here,
    /// once: <c>s.Json.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower</c>, <c>s.Json.Converters.Add(…)</c>,
    /// <c>s.Json.TypeInfoResolverChain.Insert(0, MyJsonContext.Default)</c>. They are frozen when the app starts.</summary>
    public System.Text.Json.JsonSerializerOptions Json { get; } = BocataJson.CreateOptions(readOnly: false);

    /// <summary>Most fields and parts in one form (400 past it). Default 1024.</summary>
    public int MaxFormFields { get; set; } = 1024;

    /// <summary>Largest value of one form field that is not a file, in bytes (413 past it). Default 1 MB.</summary>
    public int MaxFormFieldSize { get; set; } = 1024 * 1024;

    /// <summary>Largest uploaded file in a multipart form, in bytes (413 past it). Default 30 MB; the whole body stays bounded by
    /// <see cref="MaxRequestBodySize"/>.</summary>
    public long MaxFormFileSize { get; set; } = 30_000_000;

    /// <summary>An uploaded file larger than this many bytes is kept in a temporary file (deleted when the request ends)
    /// instead of memory. Default 64 KB.</summary>
    public int FormMemoryThreshold { get; set; } = 64 * 1024;

    /// <summary>Most bytes one form holds in memory: its text fields and the uploaded files kept in memory, together. A file that
    /// would pass it goes to a temporary file however small; text fields past it, or a urlencoded body larger than it, are 413.
    /// Default 2 MB.</summary>
    public int MaxFormMemorySize { get; set; } = 2 * 1024 * 1024;

    /// <summary>Most bytes of uploads held in temporary files at once, across every request of the app: an upload that would pass
    /// it is answered 503 with <c>Retry-After</c> (its bytes are deleted at once). Default 1 GB; null means no limit.</summary>
    public long? MaxUploadTempBytes { get; set; } = 1024L * 1024 * 1024;

    /// <summary>Longest a request body may send nothing while the app reads it (<c>BodyAsync</c>, <c>JsonAsync</c>, <c>FormAsync</c>,
    /// <c>StreamAsync</c>): past it the request is answered 408. <see cref="MinRequestBodyDataRate"/> is an average, which a
    /// client that sent a burst first can then stall under for hours; this cannot be dodged. Default 30 s; null means no limit.</summary>
    public TimeSpan? RequestBodyIdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Slowest accepted request body upload, in bytes per second, after <see cref="RequestBodyGracePeriod"/>: a client
    /// trickling a body slower than this is disconnected (a slow-upload attack holds a connection and a handler). Default 240;
    /// null turns the check off.</summary>
    public double? MinRequestBodyDataRate { get; set; } = 240;

    /// <summary>How long a request body may arrive slower than <see cref="MinRequestBodyDataRate"/> before the client is
    /// disconnected. Default 5 s (more than 1 s).</summary>
    public TimeSpan RequestBodyGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Largest total size of the request line and headers (431 past it). Default 32 KB.</summary>
    public int MaxRequestHeadersTotalSize { get; set; } = 32 * 1024;

    /// <summary>Most request headers accepted (431 past it). Default 100.</summary>
    public int MaxRequestHeaderCount { get; set; } = 100;

    /// <summary>Time a client has to send its request headers (slowloris protection). Default 30 s.</summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Idle time before a kept-alive connection is closed. Default 130 s.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(130);

    /// <summary>Most simultaneous connections, WebSockets included (a connection past it is closed at once); null means no limit (the default).</summary>
    public long? MaxConcurrentConnections { get; set; }

    /// <summary>Most simultaneous WebSocket connections (a handshake past it is 503); null means only
    /// <see cref="MaxConcurrentConnections"/> bounds them (the default).</summary>
    public long? MaxWebSocketConnections { get; set; }

    /// <summary>Largest WebSocket message accepted, in bytes; a bigger one closes the connection with 1009. Default 1 MB.</summary>
    public int WebSocketMaxMessageSize { get; set; } = 1024 * 1024;

    /// <summary>How long a WebSocket message may take to arrive once its first fragment has (a client that starts a message and
    /// never finishes it is closed with 1008). Default 30 s.</summary>
    public TimeSpan WebSocketMessageTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the server pings an idle WebSocket. Default 30 s.</summary>
    public TimeSpan WebSocketKeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the server waits for the pong before it drops a WebSocket whose peer is gone. Default 30 s.</summary>
    public TimeSpan WebSocketKeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long one write to an event or response stream may wait on a client that does not read before it is disconnected. Default 30 s.</summary>
    public TimeSpan StreamWriteTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a graceful stop waits for in-flight requests before aborting them. Default 5 s.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Where <c>.Idempotent()</c> routes keep the first response to each <c>Idempotency-Key</c>: this process by default;
    /// set a shared store (Bocata.Redis's <c>backplane.IdempotencyStore</c>) when several instances serve the app.</summary>
    public IIdempotencyStore IdempotencyStore { get; set; } = new MemoryIdempotencyStore();

    /// <summary>A TLS certificate: when set, the app serves HTTPS with HTTP/1.1 and HTTP/2 (negotiated by ALPN).</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? Certificate
    {
        get => _certificate;
        set
        {
            // TLS (and the X.509/OpenSSL code under it) is reached only from here: an app that never sets a certificate
            // publishes Native AOT without it (with compression, 4 MB of the AOT benchmark app's 11.5 MB).
            if (value is not null) HttpsSupport.Install();
            _certificate = value;
        }
    }

    private System.Security.Cryptography.X509Certificates.X509Certificate2? _certificate;

    /// <summary>Cross-origin requests to allow; null (the default) sends no CORS headers.</summary>
    public CorsSettings? Cors { get; set; }

    /// <summary>Compress text-like bodies of at least <see cref="GzipMinSize"/> bytes with brotli or gzip, as the client accepts. Never event streams.</summary>
    public bool Gzip
    {
        get => _gzip;
        set
        {
            // The brotli and gzip encoders are reached only from here, so an app that never compresses publishes without them.
            if (value) Compression.Install();
            _gzip = value;
        }
    }

    private bool _gzip;

    /// <summary>Smallest body worth compressing (default 1024 bytes).</summary>
    public int GzipMinSize { get; set; } = 1024;

    /// <summary>Redirect HTTP to HTTPS (301) and send Strict-Transport-Security on HTTPS responses.</summary>
    public bool Hsts { get; set; }

    /// <summary>The Strict-Transport-Security max-age (default one year).</summary>
    public TimeSpan HstsMaxAge { get; set; } = TimeSpan.FromDays(365);

    /// <summary>Turn on <c>req.Session</c>: values kept in a signed cookie. Needs <see cref="SecretKey"/> or the SECRET_KEY environment variable.</summary>
    public bool Sessions { get; set; }

    /// <summary>The key that signs session cookies (at least 32 characters); defaults to the SECRET_KEY environment variable.</summary>
    public string? SecretKey { get; set; }

    /// <summary>How long a session cookie lives (default 14 days): enforced on the server from the cookie's signed issue time,
    /// so a captured cookie stops working then, whatever the browser keeps.</summary>
    public TimeSpan SessionMaxAge { get; set; } = TimeSpan.FromDays(14);

    /// <summary>Secrets you rotated away from: cookies they signed are still accepted (and re-signed with <see cref="SecretKey"/>
    /// when the session changes), nothing new is signed with them. Remove them after <see cref="SessionMaxAge"/>.</summary>
    public IList<string> PreviousSecretKeys { get; set; } = new List<string>();

    /// <summary>Validates <c>Authorization: Bearer</c> JWTs with these parameters (issuer, audience, signing keys), through
    /// Microsoft.IdentityModel's <c>JsonWebTokenHandler</c>; a valid token signs the request in as <c>req.User</c>. Unsigned and
    /// <c>alg: none</c> tokens are always refused. Null (the default) accepts no bearer tokens.</summary>
    public Microsoft.IdentityModel.Tokens.TokenValidationParameters? Jwt
    {
        get => _jwt;
        set
        {
            // The token handler is reached only from here, so an app without bearer tokens publishes Native AOT without it.
            if (value is not null) JwtBearer.Install();
            _jwt = value;
        }
    }

    private Microsoft.IdentityModel.Tokens.TokenValidationParameters? _jwt;

    /// <summary>An OpenID Connect provider (e.g. <c>"https://id.example/"</c>) whose discovery document and JWKS give the issuer and
    /// signing keys bearer tokens are checked with, fetched when needed and again when the provider rotates its keys. Set the
    /// audience in <see cref="Jwt"/> (<c>ValidAudience</c>). Over https (http only to localhost). Null by default.</summary>
    public string? JwtAuthority
    {
        get => _jwtAuthority;
        set
        {
            // Discovery (and its HTTP client) is reached only from here.
            if (value is not null) JwtBearer.InstallAuthority();
            _jwtAuthority = value;
        }
    }

    private string? _jwtAuthority;

    /// <summary>Turn on cookie sign-in: <c>res.SignIn(user)</c> sets an HttpOnly, SameSite=Lax cookie encrypted and authenticated
    /// with a key derived from <see cref="SecretKey"/> (AES-GCM), read back as <c>req.User</c>. Needs <see cref="SecretKey"/> or
    /// the SECRET_KEY environment variable.</summary>
    public bool AuthCookie { get; set; }

    /// <summary>The clock sessions and sign-in cookies read (tests give a fake one); the system clock by default.</summary>
    public TimeProvider Clock { get; set; } = TimeProvider.System;

    /// <summary>With <see cref="Sessions"/> on, refuse (403) a POST, PUT, PATCH or DELETE that a page of another origin sent:
    /// its <c>Origin</c> (or, without one, <c>Sec-Fetch-Site</c>) is neither the app's own nor listed in <see cref="Cors"/>.
    /// Another site, or another port of this one, cannot then act with the user's session cookie (cross-site request
    /// forgery). Requests without either header (curl, another server) are not checked. Default on.</summary>
    public bool CheckOrigin { get; set; } = true;

    /// <summary>Origins whose pages may open this app's WebSockets (e.g. <c>"https://app.example.com"</c>; <c>"*"</c> for any).
    /// Default (null): the app's own origin, and the CORS origins when <see cref="Cors"/> is set. A handshake from another
    /// origin is refused with 403; a client that sends no Origin (not a browser) is not checked.</summary>
    public IList<string>? WebSocketOrigins { get; set; }

    /// <summary>Proxies (addresses such as <c>"10.0.0.2"</c>, or networks such as <c>"10.0.0.0/8"</c>) whose <c>X-Forwarded-For</c>,
    /// <c>X-Forwarded-Proto</c> and <c>X-Forwarded-Host</c> headers are believed. Empty by default: from anyone else those headers
    /// are ignored, so a client cannot claim another address or HTTPS.</summary>
    public IList<string> TrustedProxies { get; set; } = new List<string>();

    /// <summary>Log one line per request (method, path, status, duration). Default on.</summary>
    public bool AccessLog { get; set; } = true;

    /// <summary>The default console logger's format: <see cref="LogFormat.Simple"/> (one line per entry when output is redirected,
    /// multi-line stack traces in a terminal) or <see cref="LogFormat.Json"/> (JSON lines with trace ids, for containers).
    /// Default: Json when the BOCATA_LOG_FORMAT environment variable is "json", else Simple. Ignored with a custom <see cref="LoggerFactory"/>.</summary>
    public LogFormat LogFormat { get; set; } =
        string.Equals(Environment.GetEnvironmentVariable("BOCATA_LOG_FORMAT"), "json", StringComparison.OrdinalIgnoreCase) ? LogFormat.Json : LogFormat.Simple;

    /// <summary>The logger factory; by default a console logger (see <see cref="LogFormat"/>).</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    internal void Validate()
    {
        if (MaxRequestBodySize is < 0) throw new ArgumentOutOfRangeException(nameof(MaxRequestBodySize), "MaxRequestBodySize cannot be negative.");
        if (MaxRequestHeadersTotalSize <= 0) throw new ArgumentOutOfRangeException(nameof(MaxRequestHeadersTotalSize), "MaxRequestHeadersTotalSize must be positive.");
        if (MaxRequestHeaderCount <= 0) throw new ArgumentOutOfRangeException(nameof(MaxRequestHeaderCount), "MaxRequestHeaderCount must be positive.");
        if (StreamWriteTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(StreamWriteTimeout), "StreamWriteTimeout must be positive.");
        if (MinRequestBodyDataRate is <= 0) throw new ArgumentOutOfRangeException(nameof(MinRequestBodyDataRate), "MinRequestBodyDataRate must be positive (bytes per second), or null to turn the check off.");
        if (RequestBodyGracePeriod <= TimeSpan.FromSeconds(1)) throw new ArgumentOutOfRangeException(nameof(RequestBodyGracePeriod), "RequestBodyGracePeriod must be more than 1 second (Kestrel checks rates once a second).");
        if (MaxJsonBodySize is <= 0) throw new ArgumentOutOfRangeException(nameof(MaxJsonBodySize), "MaxJsonBodySize must be positive, or null for no JSON-specific limit.");
        if (MaxConcurrentConnections is <= 0) throw new ArgumentOutOfRangeException(nameof(MaxConcurrentConnections), "MaxConcurrentConnections must be positive, or null for no limit.");
        if (MaxWebSocketConnections is < 0) throw new ArgumentOutOfRangeException(nameof(MaxWebSocketConnections), "MaxWebSocketConnections cannot be negative; null means no separate limit.");
        if (WebSocketMaxMessageSize <= 0) throw new ArgumentOutOfRangeException(nameof(WebSocketMaxMessageSize), "WebSocketMaxMessageSize must be positive (bytes).");
        if (WebSocketMessageTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(WebSocketMessageTimeout), "WebSocketMessageTimeout must be positive.");
        if (WebSocketKeepAliveInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(WebSocketKeepAliveInterval), "WebSocketKeepAliveInterval must be positive.");
        if (WebSocketKeepAliveTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(WebSocketKeepAliveTimeout), "WebSocketKeepAliveTimeout must be positive.");
        if (MaxFormFields <= 0) throw new ArgumentOutOfRangeException(nameof(MaxFormFields), "MaxFormFields must be positive.");
        if (MaxFormFieldSize <= 0) throw new ArgumentOutOfRangeException(nameof(MaxFormFieldSize), "MaxFormFieldSize must be positive.");
        if (MaxFormFileSize <= 0) throw new ArgumentOutOfRangeException(nameof(MaxFormFileSize), "MaxFormFileSize must be positive.");
        if (FormMemoryThreshold < 0) throw new ArgumentOutOfRangeException(nameof(FormMemoryThreshold), "FormMemoryThreshold cannot be negative.");
        if (MaxFormMemorySize <= 0) throw new ArgumentOutOfRangeException(nameof(MaxFormMemorySize), "MaxFormMemorySize must be positive (bytes).");
        if (MaxUploadTempBytes is <= 0) throw new ArgumentOutOfRangeException(nameof(MaxUploadTempBytes), "MaxUploadTempBytes must be positive (bytes), or null for no limit.");
        if (RequestBodyIdleTimeout is { } idle && idle <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RequestBodyIdleTimeout), "RequestBodyIdleTimeout must be positive, or null for no limit.");
        if (GzipMinSize < 0) throw new ArgumentOutOfRangeException(nameof(GzipMinSize), "GzipMinSize cannot be negative.");
        Cors?.Validate();
        _ = Forwarding.ParseProxies(TrustedProxies);
        if (!StaticRoot.StartsWith('/')) throw new ArgumentException($"StaticRoot '{StaticRoot}' must start with '/'.", nameof(StaticRoot));
    }
}

/// <summary>The default console logger's output format.</summary>
public enum LogFormat
{
    /// <summary>Human-readable lines.</summary>
    Simple,

    /// <summary>One JSON object per entry, with scopes (trace and span ids).</summary>
    Json,
}
