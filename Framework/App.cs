using System.Runtime.InteropServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>A Bocata application: routes, middleware, error handlers and event hooks, served by bare Kestrel.</summary>
public sealed partial class App : Router
{
    private readonly Settings _settings = new();
    private readonly List<Func<Handler, Handler>> _middleware = [];
    private readonly Dictionary<Type, ExceptionHandling.ErrorHandler> _errorHandlers = [];
    private readonly List<Func<Task>> _startup = [];
    private readonly List<Func<Task>> _stopping = [];
    private readonly List<Func<Task>> _shutdown = [];
    private readonly Lock _freezeLock = new();
    private bool _configured;
    private Frozen? _frozen;

    /// <summary>Creates an app with Bocadillo's defaults: HttpError as JSON, a 500 safety net, the trailing-slash redirect; and a 503
    /// with Retry-After for a publish a backplane could not confirm.</summary>
    public App()
    {
        StartupErrors.Install();
        ErrorHandler<HttpError>(ErrorHandlers.ToJson);
        // A publish the backplane could not confirm (Redis down): a 503 the client retries, not a 500; the reason stays in the log.
        ErrorHandler<BackplaneUnavailableException>((req, res, _) =>
        {
            ErrorHandlers.ToJson(req, res, new HttpError(503, "The event could not be published right now; try again shortly."));
            res.Headers["Retry-After"] = "1";
        });
        ErrorHandler<Redirect>((req, res, redirect) =>
        {
            res.StatusCode = redirect.Permanent ? 301 : 302;
            res.Headers["Location"] = UrlEncoding.Location(redirect.Url);
        });
    }

    /// <summary>Services for <c>app.Provide</c> and handler injection (Microsoft.Extensions.DependencyInjection).</summary>
    public IServiceCollection Services { get; } = new ServiceCollection();

    /// <summary>Changes the settings; once, before the app starts serving.</summary>
    public void Configure(Action<Settings> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        EnsureNotFrozen("Configure");
        if (_configured) throw new InvalidOperationException("app.Configure can be called once: put every setting in one call, app.Configure(s => { s.A = ...; s.B = ...; }).");
        configure(_settings);
        _settings.Validate();
        _configured = true;
    }

    /// <summary>Adds middleware as a function: <c>app.Use(async (req, res, next) => { ...; await next(); ... })</c>. First added runs outermost.</summary>
    public void Use(Func<Request, Response, Func<Task>, Task> middleware)
    {
        ArgumentNullException.ThrowIfNull(middleware);
        EnsureNotFrozen("Use");
        _middleware.Add(next => (req, res) =>
        {
            Task? inner = null;
            var outer = middleware(req, res, () => inner = next(req, res));
            return outer.IsCompletedSuccessfully ? Finished(inner) : AwaitedAsync(outer);

            async Task AwaitedAsync(Task running)
            {
                await running;
                await Finished(inner);
            }
        });

        // A middleware that calls next() without awaiting it returns while the handler still runs: the response would go out
        // without what the handler sets. Say so rather than send an incomplete response.
        static Task Finished(Task? inner) => inner is null || inner.IsCompleted ? Task.CompletedTask
            : throw new InvalidOperationException("A middleware added with app.Use returned while next() was still running: await it — app.Use(async (req, res, next) => { ...; await next(); ... }).");
    }

    /// <summary>Adds a <see cref="Middleware"/> subclass, created with <paramref name="args"/> and services for its constructor.</summary>
    public void AddMiddleware<[System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicConstructors)] T>(params object[] args) where T : Middleware
    {
        EnsureNotFrozen("AddMiddleware");
        _middleware.Add(next =>
        {
            var instance = ActivatorUtilities.CreateInstance<T>(_frozen!.Services, args);
            return instance.Wrap(next);
        });
    }

    /// <summary>Handles exceptions of type <typeparamref name="TException"/> (and subclasses without their own handler).</summary>
    public void ErrorHandler<TException>(Action<Request, Response, TException> handler) where TException : Exception
    {
        ArgumentNullException.ThrowIfNull(handler);
        ErrorHandler<TException>((req, res, e) =>
        {
            handler(req, res, e);
            return Task.CompletedTask;
        });
    }

    /// <summary>Handles exceptions of type <typeparamref name="TException"/> (and subclasses without their own handler).</summary>
    public void ErrorHandler<TException>(Func<Request, Response, TException, Task> handler) where TException : Exception
    {
        ArgumentNullException.ThrowIfNull(handler);
        EnsureNotFrozen("ErrorHandler");
        _errorHandlers[typeof(TException)] = (req, res, e) => handler(req, res, (TException)e);
    }

    /// <summary>Runs <paramref name="handler"/> on "startup" (before serving), "stopping" (when a stop begins, before the drain:
    /// readiness already answers 503, requests are still served) or "shutdown" (after the server stopped), in registration order.</summary>
    public void On(string eventName, Action handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        On(eventName, () =>
        {
            handler();
            return Task.CompletedTask;
        });
    }

    /// <summary>Runs <paramref name="handler"/> on "startup" (before serving), "stopping" (when a stop begins, before the drain:
    /// readiness already answers 503, requests are still served) or "shutdown" (after the server stopped), in registration order.</summary>
    public void On(string eventName, Func<Task> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var list = eventName switch
        {
            "startup" => _startup,
            "stopping" => _stopping,
            "shutdown" => _shutdown,
            _ => throw new ArgumentException($"Unknown event '{eventName}': use \"startup\", \"stopping\" or \"shutdown\".", nameof(eventName)),
        };
        list.Add(handler);
    }

    /// <summary>Provides a value to handlers that declare a parameter of type <typeparamref name="T"/>: one per request (default) or one for the app.</summary>
    public void Provide<T>(Func<IServiceProvider, T> factory, ProviderScope scope = ProviderScope.Request) where T : class
    {
        ArgumentNullException.ThrowIfNull(factory);
        EnsureNotFrozen("Provide");
        if (scope == ProviderScope.App) Services.AddSingleton(factory);
        else Services.AddScoped(factory);
    }

    /// <summary>Provides a value created by <paramref name="factory"/>: one per request (default) or one for the app.</summary>
    public void Provide<T>(Func<T> factory, ProviderScope scope = ProviderScope.Request) where T : class
    {
        ArgumentNullException.ThrowIfNull(factory);
        Provide<T>(_ => factory(), scope);
    }

    /// <summary>The URL path of the route named <paramref name="name"/> (a route without parameters).</summary>
    public string UrlFor(string name) => UrlFor(name, new Dictionary<string, object?>());

    /// <summary>The URL path of the route named <paramref name="name"/>, with <paramref name="values"/> (an anonymous object, a record
    /// or a dictionary) filled in and escaped.</summary>
    public string UrlFor<[System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicProperties)] T>(string name, T values) =>
        Format(name, Values(values, () => typeof(T).GetProperties()));

    /// <summary>The URL path of the route named <paramref name="name"/>, with <paramref name="values"/> (an object or dictionary) filled in and escaped.</summary>
    [System.Diagnostics.CodeAnalysis.RequiresUnreferencedCode(Aot.UrlValues)]
    public string UrlFor(string name, object? values) => Format(name, Values(values, () => values!.GetType().GetProperties()));

    /// <summary>Route values from null, a dictionary, or an object's readable properties (listed only when needed).</summary>
    private static IReadOnlyDictionary<string, object?> Values(object? values, Func<System.Reflection.PropertyInfo[]> properties) => values switch
    {
        null => new Dictionary<string, object?>(),
        IReadOnlyDictionary<string, object?> d => d,
        IDictionary<string, object?> d => d.ToDictionary(p => p.Key, p => p.Value),
        _ => properties().Where(p => p.GetIndexParameters().Length == 0).ToDictionary(p => p.Name, p => p.GetValue(values)),
    };

    private string Format(string name, IReadOnlyDictionary<string, object?> values)
    {
        ArgumentNullException.ThrowIfNull(name);
        var route = AllRoutes().FirstOrDefault(r => r.Route.Name == name);
        if (route.Route is null)
            throw new ArgumentException($"No route is named '{name}'. Name one with app.Route(pattern, handler, name: \"{name}\").", nameof(name));
        return route.Route.WithPrefix(route.Prefix).Pattern.Format(values);
    }

    /// <summary>Serves the app until Ctrl+C or SIGTERM, then stops gracefully. HOST and PORT environment variables override the defaults (127.0.0.1:8000).</summary>
    public void Run(string? host = null, int? port = null)
    {
        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;
            stop.Cancel();
        });
        try
        {
            RunAsync(host, port, stop.Token).GetAwaiter().GetResult();
        }
        catch (AddressInUseException e)
        {
            Console.Error.WriteLine(e.Message);
            Environment.Exit(1);
        }
        catch (Exception e) when (StartupErrors.IsMistake(e))
        {
            // A configuration mistake found when the app starts (a bad PORT, a handler signature, a missing secret): its
            // message says how to fix it, which is all a developer needs — not a crash dump.
            Console.Error.WriteLine(StartupErrors.Describe(e));
            Environment.Exit(1);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>Serves the app until <paramref name="cancellationToken"/> fires, then stops gracefully.</summary>
    public async Task RunAsync(string? host = null, int? port = null, CancellationToken cancellationToken = default)
    {
        var running = await StartAsync(host, port, cancellationToken);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
        await running.StopAsync();
    }

    /// <summary>Starts serving and returns a handle with the <c>Url</c> and <c>StopAsync()</c>. Port 0 picks a free port.</summary>
    public Task<RunningApp> StartAsync(string? host = null, int? port = null, CancellationToken cancellationToken = default) =>
        StartAsync(host, port, printUrl: true, cancellationToken);

    internal async Task<RunningApp> StartAsync(string? host, int? port, bool printUrl, CancellationToken cancellationToken)
    {
        var frozen = Freeze();
        foreach (var handler in _startup) await handler();
        var address = ResolveAddress(host, port);
        var server = new ServerState(this, frozen.Pipeline, _settings, frozen.Loggers, frozen.Services);
        var kestrel = await KestrelHost.StartAsync(server, address.Host, address.Port, cancellationToken);
        var running = new RunningApp(kestrel, server, _stopping, _shutdown);
        if (printUrl) Console.WriteLine($"Bocata running on {running.Url} (press Ctrl+C to quit)");
        return running;
    }

    internal Handler Pipeline => Freeze().Pipeline;

    internal RouteTable Table => Freeze().Table;

    private protected override void OnRegister(string what) => EnsureNotFrozen(what);

    private Frozen Freeze()
    {
        if (_frozen is { } done) return done;
        lock (_freezeLock)
        {
            if (_frozen is not null) return _frozen;
            ValidateHealth();
            var loggers = _settings.LoggerFactory ?? DefaultLoggers(_settings);
            AppLoggers.Current = loggers;
            BocataJson.Freeze(_settings.Json);
            Services.AddSingleton(loggers);
            Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
            var services = Services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true });
            bool IsService(Type type) => services.GetService<IServiceProviderIsService>()?.IsService(type) ?? false;

            var mounts = AllMounts().ToList();
            var startupLog = loggers.CreateLogger("Bocata");
            if (_settings.StaticDir is { } dir && !mounts.Any(m => m.Prefix == _settings.StaticRoot.TrimEnd('/')))
            {
                var staticDir = ContentRoot.Resolve(dir);
                if (Directory.Exists(staticDir)) mounts.Add((_settings.StaticRoot.TrimEnd('/'), Static.Files(staticDir)));
                else if (dir != Settings.DefaultStaticDir)
                    startupLog.LogWarning("StaticDir '{StaticDir}' does not exist (looked in {Path} and the current directory): nothing is served at {StaticRoot}. Copy the folder to the output with CopyToOutputDirectory, or set an absolute path.", dir, staticDir, _settings.StaticRoot);
            }
            var table = new RouteTable(AllRoutes().Select(r => r.Prefix.Length == 0 && r.Limits.Length == 0 ? r.Route : r.Route.WithPrefix(r.Prefix, r.Limits)), mounts, IsService, _settings.RedirectTrailingSlash,
                warn: message => startupLog.LogWarning("{Message}", message));

            var errorHandlers = new Dictionary<Type, ExceptionHandling.ErrorHandler>(_errorHandlers);
            // With middleware, a handler's exception passes through it (Bocadillo: after_dispatch does not run when dispatch raised)
            // and is turned into a response outside it, by the same error handlers.
            Handler pipeline = _middleware.Count > 0 ? table.DispatchAsync : ExceptionHandling.Inner(table.DispatchAsync, errorHandlers);
            var frozen = new Frozen(pipeline, table, loggers, services);
            _frozen = frozen;
            try
            {
                for (var i = _middleware.Count - 1; i >= 0; i--) pipeline = _middleware[i](pipeline);
                if (_settings.Sessions) pipeline = SessionCookie.Wrap(pipeline, SessionKeys(startupLog), _settings.SessionMaxAge, _settings.Clock, loggers.CreateLogger("Bocata.Sessions"));
                // Either cookie a browser sends by itself (the session, the sign-in) makes another origin's unsafe request act as the user.
                var checkOrigin = (_settings.Sessions || _settings.AuthCookie) && _settings.CheckOrigin;
                if (checkOrigin) pipeline = CrossOrigin.Wrap(pipeline, _settings.Cors?.AllowOrigins);
                if (_settings.Jwt is not null || _settings.JwtAuthority is not null || _settings.AuthCookie)
                    pipeline = new Authenticator(_settings, _settings.AuthCookie ? AuthCookieKeys(startupLog) : null).Wrap(pipeline);
                if (_settings.Cors is { } cors) pipeline = Cors.Wrap(pipeline, cors);
                if (_settings.Hsts) pipeline = Hsts.Wrap(pipeline, _settings.HstsMaxAge);
                if (!_settings.AllowedHosts.Contains("*")) pipeline = HostFilter.Wrap(pipeline, [.. _settings.AllowedHosts]);
                // Errors raised by middleware and settings layers get the same handlers as errors raised by routes.
                if (_middleware.Count > 0 || !_settings.AllowedHosts.Contains("*") || _settings.Cors is not null || _settings.Hsts || checkOrigin)
                    pipeline = ExceptionHandling.Inner(pipeline, errorHandlers);
                pipeline = ExceptionHandling.Outer(pipeline, loggers.CreateLogger("Bocata"));
            }
            catch
            {
                _frozen = null;
                throw;
            }
            return _frozen = frozen with { Pipeline = pipeline };
        }
    }

    /// <summary>Secrets published in Bocata's examples and docs before they generated their own: anyone can forge sessions with them.</summary>
    private static readonly string[] PublishedSecrets = ["example-only-secret-change-me-0123456789"];

    private SessionKeys SessionKeys(ILogger log)
    {
        var (secret, previous) = Secrets(log, "Sessions need", "sessions");
        return new SessionKeys(SessionCookie.DeriveKey(secret), [.. previous.Select(SessionCookie.DeriveKey)]);
    }

    private AuthCookie AuthCookieKeys(ILogger log)
    {
        var (secret, previous) = Secrets(log, "Cookie sign-in (s.AuthCookie) needs", "sign-in cookies");
        return new AuthCookie(AuthCookie.DeriveKey(secret), [.. previous.Select(AuthCookie.DeriveKey)]);
    }

    /// <summary>The app's secret and the previous ones still accepted, checked (a short or published secret lets anyone forge what it protects).</summary>
    private (string Secret, List<string> Previous) Secrets(ILogger log, string needs, string what)
    {
        var secret = _settings.SecretKey ?? Environment.GetEnvironmentVariable("SECRET_KEY");
        if (string.IsNullOrEmpty(secret) || secret.Length < 32)
            throw new InvalidOperationException($"{needs} a secret of at least 32 characters: set the SECRET_KEY environment variable or s.SecretKey in app.Configure (e.g. from `openssl rand -base64 48`).");
        var previousKeys = _settings.PreviousSecretKeys.Where(k => !string.IsNullOrEmpty(k)).ToList();
        if (previousKeys.Any(k => k.Length < 32))
            throw new InvalidOperationException($"Each of PreviousSecretKeys needs at least 32 characters, as SecretKey does: a short one lets anyone forge {what} it protected.");
        foreach (var known in previousKeys.Prepend(secret).Where(k => PublishedSecrets.Contains(k) || k.Distinct().Count() < 8))
            log.LogWarning("The secret {Secret}… is published or trivially guessable: anyone can forge {What}. Set SECRET_KEY to a random value (e.g. `openssl rand -base64 48`).", known[..6], what);
        return (secret, previousKeys);
    }

    /// <summary>The app's mounts and those of included routers under their prefixes (a router's own Mount survives IncludeRouter).</summary>
    private IEnumerable<(string Prefix, Handler Handler)> AllMounts()
    {
        foreach (var (prefix, handler) in Mounts) yield return (prefix, handler());
        var stack = new Stack<(string, Router)>();
        foreach (var (prefix, router) in Included) stack.Push((prefix, router));
        while (stack.Count > 0)
        {
            var (prefix, router) = stack.Pop();
            foreach (var (inner, handler) in router.Mounts) yield return (prefix + inner, handler());
            foreach (var (inner, child) in router.Included) stack.Push((prefix + inner, child));
        }
    }

    /// <summary>Every route with its prefix and the rate limits of the routers it is in (innermost first, the app's last),
    /// carrying the <c>Requires</c> of the app and of each router it was included through.</summary>
    private IEnumerable<(string Prefix, Route Route, RateLimitPolicy[] Limits)> AllRoutes()
    {
        var stack = new Stack<(string, Router, RateLimitPolicy[], string[])>();
        RateLimitPolicy[] own = [.. RateLimits];
        var required = RouterRequirements;
        foreach (var route in RouteList) yield return ("", route.WithRequirements(required), own);
        foreach (var (prefix, router) in Included) stack.Push((prefix, router, own, required));
        while (stack.Count > 0)
        {
            var (prefix, router, outer, outerRequired) = stack.Pop();
            RateLimitPolicy[] limits = [.. router.RateLimits, .. outer];
            var inner = router.RouterRequirements.Length == 0 ? outerRequired : [.. outerRequired, .. router.RouterRequirements];
            foreach (var route in router.RouteList) yield return (prefix, route.WithRequirements(inner), limits);
            foreach (var (innerPrefix, child) in router.Included) stack.Push((prefix + innerPrefix, child, limits, inner));
        }
    }

    private static (string Host, int Port) ResolveAddress(string? host, int? port)
    {
        host ??= Environment.GetEnvironmentVariable("HOST") is { Length: > 0 } h ? h : "127.0.0.1";
        if (port is null)
        {
            var env = Environment.GetEnvironmentVariable("PORT");
            if (string.IsNullOrEmpty(env)) port = 8000;
            else if (int.TryParse(env, out var p)) port = p;
            else throw new ArgumentException($"The PORT environment variable is '{env}', which is not a port number.");
        }
        if (port is < 0 or > 65535) throw new ArgumentOutOfRangeException(nameof(port), port, "A port is between 0 and 65535 (0 picks a free port).");
        return (host, port.Value);
    }

    /// <summary>The console logger when the app brings none: one line per entry for machines (output redirected), entries
    /// with their full, multi-line stack traces in a terminal, or JSON lines with scopes (trace and span ids) for containers.</summary>
    private static ILoggerFactory DefaultLoggers(Settings settings) => LoggerFactory.Create(b =>
    {
        b.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
        if (settings.LogFormat == LogFormat.Json)
        {
            b.AddJsonConsole(o =>
            {
                o.IncludeScopes = true;
                o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                o.UseUtcTimestamp = true;
            });
        }
        else
        {
            b.AddSimpleConsole(o =>
            {
                o.SingleLine = Console.IsOutputRedirected;
                o.TimestampFormat = "HH:mm:ss ";
            });
        }
        b.SetMinimumLevel(LogLevel.Information).AddFilter("Microsoft", LogLevel.Warning);
    });

    private void EnsureNotFrozen(string what)
    {
        if (_frozen is not null)
            throw new InvalidOperationException($"{what}: the app has started serving; register routes, middleware, settings and providers before app.Run(), StartAsync() or CreateClient().");
    }

    private sealed record Frozen(Handler Pipeline, RouteTable Table, ILoggerFactory Loggers, ServiceProvider Services);
}

/// <summary>How long a provided value lives.</summary>
public enum ProviderScope
{
    /// <summary>One instance per request.</summary>
    Request,

    /// <summary>One instance for the app's lifetime.</summary>
    App,
}
