using System.Reflection;

namespace Bocata;

/// <summary>A registered route: a pattern, its handlers by method and its hooks. Returned by <c>app.Route</c> to add hooks.</summary>
public sealed partial class Route
{
    private readonly List<Hook> _before = [];
    private readonly List<Hook> _after = [];
    private readonly Func<RoutePattern, Func<Type, bool>, Dictionary<string, Handler>> _compile;

    internal Route(string pattern, string? name, Func<RoutePattern, Func<Type, bool>, Dictionary<string, Handler>> compile, IReadOnlyCollection<string> methods)
    {
        Pattern = RoutePattern.Parse(pattern);
        if (Pattern.CaptureCount > 16) throw new ArgumentException($"Route pattern '{pattern}' has more than 16 parameters.", nameof(pattern));
        Name = name;
        _compile = compile;
        Methods = methods;
    }

    internal RoutePattern Pattern { get; }

    /// <summary>The handler's parameter types by name, so hooks see converted path parameters.</summary>
    internal IReadOnlyDictionary<string, Type> ParameterTypes { get; init; } = new Dictionary<string, Type>();

    /// <summary>The route's pattern text.</summary>
    public string Path => Pattern.Text;

    /// <summary>The route's name, or null.</summary>
    public string? Name { get; }

    /// <summary>The methods the route answers.</summary>
    public IReadOnlyCollection<string> Methods { get; }

    /// <summary>Runs <paramref name="hook"/> before the handler.</summary>
    public Route Before(Hook hook)
    {
        _before.Add(hook ?? throw new ArgumentNullException(nameof(hook)));
        return this;
    }

    /// <summary>Runs <paramref name="hook"/> before the handler.</summary>
    public Route Before(Action<Request, Response, IReadOnlyDictionary<string, object?>> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        return Before((req, res, p) => { hook(req, res, p); return Task.CompletedTask; });
    }

    /// <summary>Runs <paramref name="hook"/> after the handler.</summary>
    public Route After(Hook hook)
    {
        _after.Add(hook ?? throw new ArgumentNullException(nameof(hook)));
        return this;
    }

    /// <summary>Runs <paramref name="hook"/> after the handler.</summary>
    public Route After(Action<Request, Response, IReadOnlyDictionary<string, object?>> hook)
    {
        ArgumentNullException.ThrowIfNull(hook);
        return After((req, res, p) => { hook(req, res, p); return Task.CompletedTask; });
    }

    /// <summary>The largest request body this route accepts, in bytes — raw (<see cref="Settings.MaxRequestBodySize"/>) and parsed
    /// by <c>req.JsonAsync()</c> (<see cref="Settings.MaxJsonBodySize"/>) — for an upload or import endpoint that needs more (or less)
    /// than the app-wide limits; null means no limit. Like ASP.NET Core's <c>[RequestSizeLimit]</c>.</summary>
    public Route MaxBodySize(long? bytes)
    {
        if (bytes is < 0) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "MaxBodySize must be a number of bytes (>= 0), or null for no limit.");
        _limitsBody = true;
        _maxBodySize = bytes;
        return this;
    }

    private bool _limitsBody;
    private long? _maxBodySize;

    /// <summary>At most <paramref name="permits"/> requests per <paramref name="window"/> from each client — the signed-in user,
    /// else the client's address (<see cref="Request.Client"/>) — for sign-in and publish routes; past it a 429 with
    /// <c>Retry-After</c>, and the handler does not run.</summary>
    public Route RateLimit(int permits, TimeSpan window)
    {
        RateLimits.Add(new RateLimitPolicy(permits, window));
        return this;
    }

    /// <summary>Only users with every one of <paramref name="names"/> may call this route: "authenticated" (any signed-in user), or a
    /// role or scope of the user. No credential or a bad one: 401 (with <c>WWW-Authenticate: Bearer</c> when <c>s.Jwt</c> is set);
    /// signed in without one of the names: 403 naming it.</summary>
    public Route Requires(params string[] names)
    {
        _requires.AddRange(Requirements.Checked(names));
        return this;
    }

    private readonly List<string> _requires = [];

    /// <summary>A POST, PUT, PATCH or DELETE with an <c>Idempotency-Key</c> header runs once: a retry with the same key (a client that
    /// lost the answer when an instance died) gets the first response again instead of applying the request twice. Keys are
    /// remembered for <paramref name="window"/> (default 24 hours) in <see cref="Settings.IdempotencyStore"/>; with
    /// <paramref name="required"/>, a request without a key is a 400.</summary>
    public Route Idempotent(TimeSpan? window = null, bool required = false)
    {
        _idempotency = new IdempotencyPolicy(window ?? TimeSpan.FromHours(24), required);
        return this;
    }

    private IdempotencyPolicy? _idempotency;

    /// <summary>The route's own limits, then those of the routers it is in (innermost first).</summary>
    internal List<RateLimitPolicy> RateLimits { get; } = [];

    internal Route WithPrefix(string prefix) => WithPrefix(prefix, []);

    /// <summary>A copy under <paramref name="prefix"/> that also obeys <paramref name="inherited"/> (its routers' limits); the
    /// copy shares the limits' state with this route.</summary>
    internal Route WithPrefix(string prefix, IEnumerable<RateLimitPolicy> inherited)
    {
        var route = new Route(prefix + Pattern.Text, Name, _compile, Methods) { ParameterTypes = ParameterTypes, _limitsBody = _limitsBody, _maxBodySize = _maxBodySize, _idempotency = _idempotency, OpenApi = OpenApi };
        route._before.AddRange(_before);
        route._after.AddRange(_after);
        route.RateLimits.AddRange(RateLimits);
        route.RateLimits.AddRange(inherited);
        route._requires.AddRange(_requires);
        return route;
    }

    /// <summary>This route, or a copy that also requires <paramref name="names"/> (a router's <c>Requires</c>).</summary>
    internal Route WithRequirements(string[] names)
    {
        if (names.Length == 0) return this;
        var route = WithPrefix("");
        route._requires.AddRange(names);
        return route;
    }

    /// <summary>Compiles the handlers for each method, wrapped with hooks.</summary>
    internal Dictionary<string, Handler> Build(Func<Type, bool> isService)
    {
        var handlers = _compile(Pattern, isService);
        if (_before.Count > 0 || _after.Count > 0)
        {
            var before = _before.ToArray();
            var after = _after.ToArray();
            foreach (var (method, inner) in handlers.ToList())
                handlers[method] = WithHooks(inner, before, after, ParameterTypes);
        }
        // Around the hooks: a retry answered from the store runs none of them.
        if (_idempotency is { } idempotency)
            foreach (var (method, inner) in handlers.ToList())
                handlers[method] = idempotency.Wrap(inner, Pattern.Text);
        // The route's body limit holds for whatever reads the body first: the idempotency check, a hook or the handler.
        if (_limitsBody)
        {
            var limit = _maxBodySize;
            foreach (var (method, inner) in handlers.ToList())
                handlers[method] = (req, res) =>
                {
                    req.SetBodyLimit(limit);
                    return inner(req, res);
                };
        }
        // Who may call the route is decided before hooks, body limits and parameter binding.
        if (_requires.Count > 0)
        {
            string[] names = [.. _requires.Distinct(StringComparer.Ordinal)];
            foreach (var (method, inner) in handlers.ToList())
                handlers[method] = Requirements.Wrap(inner, names);
        }
        // Outermost: a refused request costs no hook, no body read and no handler (a WebSocket one is refused before the handshake).
        if (RateLimits.Count > 0)
        {
            var limits = RateLimits.ToArray();
            foreach (var (method, inner) in handlers.ToList())
                handlers[method] = RateLimitPolicy.Wrap(inner, limits);
        }
        return handlers;
    }

    internal static Handler WithHooks(Handler inner, Hook[] before, Hook[] after, IReadOnlyDictionary<string, Type> types) => async (req, res) =>
    {
        var values = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
        foreach (var pair in req.PathParams)
            values[pair.Key] = types.TryGetValue(pair.Key, out var type) ? Bind.ConvertOrRaw(pair.Value, type) : pair.Value;
        foreach (var hook in before) await hook(req, res, values);
        await inner(req, res);
        foreach (var hook in after) await hook(req, res, values);
    };

    internal static Dictionary<string, Type> TypesOf(IEnumerable<System.Reflection.MethodInfo> methods, int skip = 2)
    {
        var types = new Dictionary<string, Type>(StringComparer.OrdinalIgnoreCase);
        foreach (var method in methods)
            foreach (var p in method.GetParameters().Skip(skip))
                if (p.Name is { } name) types.TryAdd(name, p.ParameterType);
        return types;
    }

    [System.Diagnostics.CodeAnalysis.RequiresUnreferencedCode(Aot.Views)]
    internal static Hook[] HookAttributes<TAttribute>(MemberInfo member, Func<TAttribute, Type> hookType) where TAttribute : Attribute
    {
        var hooks = new List<Hook>();
        foreach (var attribute in member.GetCustomAttributes<TAttribute>())
        {
            var type = hookType(attribute);
            if (!typeof(IHook).IsAssignableFrom(type))
                throw new ArgumentException($"{type.Name} is used as a hook on {member.Name} but does not implement Bocata.IHook.");
            var instance = (IHook)(Activator.CreateInstance(type)
                ?? throw new ArgumentException($"Hook {type.Name} needs a public parameterless constructor."));
            hooks.Add(instance.InvokeAsync);
        }
        return [.. hooks];
    }
}
