using System.Diagnostics.CodeAnalysis;
using System.Reflection;

namespace Bocata;

/// <summary>A group of routes, included into an app with <c>app.IncludeRouter(router, prefix: "/api")</c>. <see cref="App"/> is a router too.</summary>
public class Router
{
    private static readonly string[] ViewMethods = ["Get", "Head", "Post", "Put", "Patch", "Delete", "Options"];
    private static readonly string[] DefaultMethods = ["GET"];
    private const DynamicallyAccessedMemberTypes ViewMembers = DynamicallyAccessedMemberTypes.PublicMethods | DynamicallyAccessedMemberTypes.PublicConstructors;
    private const DynamicallyAccessedMemberTypes StaticMembers = DynamicallyAccessedMemberTypes.PublicMethods | DynamicallyAccessedMemberTypes.NonPublicMethods;

    internal List<Route> RouteList { get; } = [];
    internal List<(string Prefix, Router Router)> Included { get; } = [];
    internal List<(string Prefix, Func<Handler> Handler)> Mounts { get; } = [];
    internal List<RateLimitPolicy> RateLimits { get; } = [];
    internal List<(string Prefix, App App)> MountedApps { get; } = [];

    /// <summary>At most <paramref name="permits"/> requests per <paramref name="window"/> from each client across all of this
    /// router's routes (those of routers it includes too, added before or after this call) — one budget, not one per route.
    /// Past it a 429 with <c>Retry-After</c>; see <see cref="Bocata.Route.RateLimit"/>.</summary>
    public void RateLimit(int permits, TimeSpan window)
    {
        OnRegister("RateLimit");
        RateLimits.Add(new RateLimitPolicy(permits, window));
    }

    internal string[] RouterRequirements { get; private set; } = [];

    /// <summary>Every route of this router (and of the routers it includes) requires <paramref name="names"/>, as
    /// <see cref="Bocata.Route.Requires"/> does for one route; mounted apps and handlers keep their own rules.</summary>
    public Router Requires(params string[] names)
    {
        RouterRequirements = [.. RouterRequirements, .. Requirements.Checked(names)];
        return this;
    }

    /// <summary>Adds a route; <paramref name="methods"/> default to GET (HEAD is answered by GET).</summary>
    public Route Route(string pattern, Action<Request, Response> handler, params string[] methods) => AddDirect(pattern, handler, methods, null);

    /// <summary>Adds a route; <paramref name="methods"/> default to GET (HEAD is answered by GET).</summary>
    public Route Route(string pattern, Func<Request, Response, Task> handler, params string[] methods) => AddDirect(pattern, handler, methods, null);

    /// <summary>Adds a route whose handler takes typed route parameters after <c>(Request req, Response res)</c>.</summary>
    [RequiresUnreferencedCode(Aot.Binder), RequiresDynamicCode(Aot.Binder)]
    public Route Route(string pattern, Delegate handler, params string[] methods) => Add(pattern, handler, methods, null);

    /// <summary>Adds a named route (for <c>UrlFor</c>).</summary>
    public Route Route(string pattern, Action<Request, Response> handler, string[]? methods = null, string? name = null) => AddDirect(pattern, handler, methods, name);

    /// <summary>Adds a named route (for <c>UrlFor</c>).</summary>
    public Route Route(string pattern, Func<Request, Response, Task> handler, string[]? methods = null, string? name = null) => AddDirect(pattern, handler, methods, name);

    /// <summary>Adds a named route (for <c>UrlFor</c>).</summary>
    [RequiresUnreferencedCode(Aot.Binder), RequiresDynamicCode(Aot.Binder)]
    public Route Route(string pattern, Delegate handler, string[]? methods = null, string? name = null) => Add(pattern, handler, methods, name);

    /// <summary>Adds a GET route.</summary>
    public Route Get(string pattern, Action<Request, Response> handler, string? name = null) => AddDirect(pattern, handler, ["GET"], name);
    /// <summary>Adds a GET route.</summary>
    public Route Get(string pattern, Func<Request, Response, Task> handler, string? name = null) => AddDirect(pattern, handler, ["GET"], name);
    /// <summary>Adds a GET route.</summary>
    [RequiresUnreferencedCode(Aot.Binder), RequiresDynamicCode(Aot.Binder)]
    public Route Get(string pattern, Delegate handler, string? name = null) => Add(pattern, handler, ["GET"], name);
    /// <summary>Adds a POST route.</summary>
    public Route Post(string pattern, Action<Request, Response> handler, string? name = null) => AddDirect(pattern, handler, ["POST"], name);
    /// <summary>Adds a POST route.</summary>
    public Route Post(string pattern, Func<Request, Response, Task> handler, string? name = null) => AddDirect(pattern, handler, ["POST"], name);
    /// <summary>Adds a POST route.</summary>
    [RequiresUnreferencedCode(Aot.Binder), RequiresDynamicCode(Aot.Binder)]
    public Route Post(string pattern, Delegate handler, string? name = null) => Add(pattern, handler, ["POST"], name);
    /// <summary>Adds a PUT route.</summary>
    public Route Put(string pattern, Action<Request, Response> handler, string? name = null) => AddDirect(pattern, handler, ["PUT"], name);
    /// <summary>Adds a PUT route.</summary>
    public Route Put(string pattern, Func<Request, Response, Task> handler, string? name = null) => AddDirect(pattern, handler, ["PUT"], name);
    /// <summary>Adds a PUT route.</summary>
    [RequiresUnreferencedCode(Aot.Binder), RequiresDynamicCode(Aot.Binder)]
    public Route Put(string pattern, Delegate handler, string? name = null) => Add(pattern, handler, ["PUT"], name);
    /// <summary>Adds a PATCH route.</summary>
    public Route Patch(string pattern, Action<Request, Response> handler, string? name = null) => AddDirect(pattern, handler, ["PATCH"], name);
    /// <summary>Adds a PATCH route.</summary>
    public Route Patch(string pattern, Func<Request, Response, Task> handler, string? name = null) => AddDirect(pattern, handler, ["PATCH"], name);
    /// <summary>Adds a PATCH route.</summary>
    [RequiresUnreferencedCode(Aot.Binder), RequiresDynamicCode(Aot.Binder)]
    public Route Patch(string pattern, Delegate handler, string? name = null) => Add(pattern, handler, ["PATCH"], name);
    /// <summary>Adds a DELETE route.</summary>
    public Route Delete(string pattern, Action<Request, Response> handler, string? name = null) => AddDirect(pattern, handler, ["DELETE"], name);
    /// <summary>Adds a DELETE route.</summary>
    public Route Delete(string pattern, Func<Request, Response, Task> handler, string? name = null) => AddDirect(pattern, handler, ["DELETE"], name);
    /// <summary>Adds a DELETE route.</summary>
    [RequiresUnreferencedCode(Aot.Binder), RequiresDynamicCode(Aot.Binder)]
    public Route Delete(string pattern, Delegate handler, string? name = null) => Add(pattern, handler, ["DELETE"], name);

    /// <summary>Adds a class-based view: its <c>Get</c>, <c>Post</c>, ... methods (or <c>Handle</c> for all) answer those methods.</summary>
    [RequiresUnreferencedCode(Aot.Views), RequiresDynamicCode(Aot.Views)]
    public Route Route<[DynamicallyAccessedMembers(ViewMembers)] TView>(string pattern, string? name = null) where TView : class
    {
        var type = typeof(TView);
        var handlers = new List<(string Method, MethodInfo Info)>();
        var publicMethods = type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly);
        // Bocadillo: Handle, when defined, answers every method and overrides Get, Post, ...; a view with neither registers
        // and answers 405 to every method.
        if (publicMethods.FirstOrDefault(m => m.Name == "Handle") is { } handle) handlers.Add(("*", handle));
        else
            foreach (var method in publicMethods)
                if (Array.IndexOf(ViewMethods, method.Name) >= 0) handlers.Add((method.Name.ToUpperInvariant(), method));
        var classBefore = Bocata.Route.HookAttributes<BeforeAttribute>(type, a => a.HookType);
        var classAfter = Bocata.Route.HookAttributes<AfterAttribute>(type, a => a.HookType);
        var methods = handlers.Select(h => h.Method).ToArray();

        var route = new Route(pattern, name, (compiledPattern, isService) =>
        {
            var result = new Dictionary<string, Handler>(StringComparer.OrdinalIgnoreCase);
            foreach (var (verb, info) in handlers)
            {
                var handler = ParameterBinder.CompileViewMethod(type, info, compiledPattern, isService);
                var before = classBefore.Concat(Bocata.Route.HookAttributes<BeforeAttribute>(info, a => a.HookType)).ToArray();
                var after = Bocata.Route.HookAttributes<AfterAttribute>(info, a => a.HookType).Concat(classAfter).ToArray();
                if (before.Length > 0 || after.Length > 0) handler = Bocata.Route.WithHooks(handler, before, after, Bocata.Route.TypesOf([info]));
                result[verb] = WithRequiresAttributes(handler, type, info);
            }
            return result;
        }, methods) { ParameterTypes = Bocata.Route.TypesOf(handlers.Select(h => h.Info)) };
        Register(route);
        return route;
    }

    /// <summary>Adds a class-based view whose pattern comes from its <c>[Route("...")]</c> attribute.</summary>
    [RequiresUnreferencedCode(Aot.Views), RequiresDynamicCode(Aot.Views)]
    public Route Route<[DynamicallyAccessedMembers(ViewMembers)] TView>() where TView : class
    {
        var attribute = typeof(TView).GetCustomAttribute<RouteAttribute>()
            ?? throw new ArgumentException($"View {typeof(TView).Name} has no [Route(\"/pattern\")] attribute; add one or call app.Route<{typeof(TView).Name}>(\"/pattern\").", nameof(TView));
        return Route<TView>(attribute.Pattern, attribute.Name);
    }

    /// <summary>Registers every static method of <typeparamref name="TClass"/> that carries <c>[Route("...")]</c> (attribute routing).</summary>
    [RequiresUnreferencedCode(Aot.Views), RequiresDynamicCode(Aot.Views)]
    public IReadOnlyList<Route> Routes<[DynamicallyAccessedMembers(StaticMembers)] TClass>() => Routes(typeof(TClass));

    /// <summary>Registers every static method of <paramref name="type"/> that carries <c>[Route("...")]</c>; use this form for static classes.</summary>
    [RequiresUnreferencedCode(Aot.Views), RequiresDynamicCode(Aot.Views)]
    public IReadOnlyList<Route> Routes([DynamicallyAccessedMembers(StaticMembers)] Type type)
    {
        ArgumentNullException.ThrowIfNull(type);
        var added = new List<Route>();
        foreach (var method in type.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static))
        {
            var attribute = method.GetCustomAttribute<RouteAttribute>();
            if (attribute is null) continue;
            var verbs = Normalize(attribute.Methods);
            var before = Bocata.Route.HookAttributes<BeforeAttribute>(method, a => a.HookType);
            var after = Bocata.Route.HookAttributes<AfterAttribute>(method, a => a.HookType);
            var route = new Route(attribute.Pattern, attribute.Name, (pattern, isService) =>
            {
                var handler = ParameterBinder.CompileStatic(method, pattern, isService);
                if (before.Length > 0 || after.Length > 0) handler = Bocata.Route.WithHooks(handler, before, after, Bocata.Route.TypesOf([method]));
                handler = WithRequiresAttributes(handler, null, method);
                return verbs.ToDictionary(v => v, _ => handler, StringComparer.OrdinalIgnoreCase);
            }, verbs) { ParameterTypes = Bocata.Route.TypesOf([method]) };
            Register(route);
            added.Add(route);
        }
        if (added.Count == 0)
            throw new ArgumentException($"{type.Name} has no static method with a [Route(\"/pattern\")] attribute.", nameof(type));
        return added;
    }

    /// <summary>The handler behind the <c>[Requires]</c> of its class and method (checked before its hooks and binding).</summary>
    [RequiresUnreferencedCode(Aot.Views)]
    private static Handler WithRequiresAttributes(Handler handler, Type? type, MethodInfo method)
    {
        var names = (type?.GetCustomAttributes<RequiresAttribute>() ?? []).Concat(method.GetCustomAttributes<RequiresAttribute>())
            .SelectMany(a => a.Names).Distinct(StringComparer.Ordinal).ToArray();
        return names.Length == 0 ? handler : Requirements.Wrap(handler, names);
    }

    /// <summary>Adds a WebSocket endpoint: the handler gets the connection, accepted for you unless <paramref name="autoAccept"/> is false.</summary>
    /// <param name="pattern">The route pattern (same syntax as <c>Route</c>).</param>
    /// <param name="handler">Runs for the life of the connection.</param>
    /// <param name="autoAccept">Accept the handshake before calling the handler.</param>
    /// <param name="valueType">What <c>await foreach</c> yields: "text", "bytes" or "json".</param>
    /// <param name="caughtCloseCodes">Client close codes that end the handler quietly (default 1000 and 1001).</param>
    public Route WebSocketRoute(string pattern, Func<WebSocket, Task> handler, bool autoAccept = true, string valueType = "text", int[]? caughtCloseCodes = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return AddWebSocket(pattern, autoAccept, valueType, caughtCloseCodes, typeof(Task), new Dictionary<string, Type>(), (_, _) => new WebSocketBinding(static _ => [], (ws, _) => handler(ws)));
    }

    /// <summary>Adds a WebSocket endpoint whose handler takes <c>(WebSocket ws, …)</c> and then route parameters (by name, converted
    /// to their types), query parameters (with defaults), validation attributes and provided services, as HTTP handlers do.
    /// A parameter that does not convert or validate refuses the handshake with 403 (Bocadillo's rule).</summary>
    [RequiresUnreferencedCode(Aot.Binder), RequiresDynamicCode(Aot.Binder)]
    public Route WebSocketRoute(string pattern, Delegate handler, bool autoAccept = true, string valueType = "text", int[]? caughtCloseCodes = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        return AddWebSocket(pattern, autoAccept, valueType, caughtCloseCodes, handler.Method.ReturnType, Bocata.Route.TypesOf([handler.Method], skip: 1),
            (compiled, isService) => ParameterBinder.CompileWebSocket(handler, compiled, isService));
    }

    /// <summary>A class-based view bound by Bocata's source generator (see <see cref="Binding.GeneratedRoutes"/>).</summary>
    internal Route AddGeneratedView(string pattern, string? name, (string Name, Type Type)[] parameters, Binding.GeneratedHandler[] handlers)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var types = TypesOf(parameters);
        var route = new Route(pattern, name, (compiled, isService) =>
        {
            var result = new Dictionary<string, Handler>(StringComparer.OrdinalIgnoreCase);
            foreach (var handler in handlers) result[handler.Method] = BindGenerated(handler, compiled, isService, types);
            return result;
        }, handlers.Select(h => h.Method).ToArray()) { ParameterTypes = types };
        Register(route);
        return route;
    }

    /// <summary>A static <c>[Route]</c> method bound by Bocata's source generator.</summary>
    internal Route AddGeneratedStatic(string pattern, string? name, string[] methods, (string Name, Type Type)[] parameters, Binding.GeneratedHandler handler)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var verbs = Normalize(methods);
        var types = TypesOf(parameters);
        var route = new Route(pattern, name, (compiled, isService) =>
        {
            var bound = BindGenerated(handler, compiled, isService, types);
            return verbs.ToDictionary(v => v, _ => bound, StringComparer.OrdinalIgnoreCase);
        }, verbs) { ParameterTypes = types };
        Register(route);
        return route;
    }

    private static Handler BindGenerated(Binding.GeneratedHandler handler, RoutePattern compiled, Func<Type, bool> isService, Dictionary<string, Type> types)
    {
        // Checked when the app starts, as the runtime binder checks a view's methods.
        var describe = $"{handler.Describe} for '{compiled.Text}'";
        HandlerResults.CheckReturnType(handler.ReturnType, describe);
        var bound = handler.Bind(new Binding.RouteBinder(compiled, isService, describe));
        if (handler.Before.Length == 0 && handler.After.Length == 0) return bound;
        return Bocata.Route.WithHooks(bound, Array.ConvertAll(handler.Before, h => (Hook)h.InvokeAsync), Array.ConvertAll(handler.After, h => (Hook)h.InvokeAsync), types);
    }

    private static Dictionary<string, Type> TypesOf((string Name, Type Type)[] parameters)
    {
        var types = new Dictionary<string, Type>(StringComparer.OrdinalIgnoreCase);
        foreach (var (parameter, type) in parameters) types.TryAdd(parameter, type);
        return types;
    }

    /// <summary>A WebSocket handler bound by Bocata's source generator (see <see cref="Binding.GeneratedRoutes"/>).</summary>
    internal Route AddGeneratedWebSocket(string pattern, bool autoAccept, string valueType, int[]? caughtCloseCodes, Type returnType,
        (string Name, Type Type)[] parameters, Func<RoutePattern, Func<Type, bool>, WebSocketBinding> bind)
    {
        var types = TypesOf(parameters);
        return AddWebSocket(pattern, autoAccept, valueType, caughtCloseCodes, returnType, types, bind);
    }

    private Route AddWebSocket(string pattern, bool autoAccept, string valueType, int[]? caughtCloseCodes, Type returnType,
        IReadOnlyDictionary<string, Type> parameterTypes, Func<RoutePattern, Func<Type, bool>, WebSocketBinding> bind)
    {
        if (valueType is not ("text" or "bytes" or "json" or "event"))
            throw new ArgumentException($"valueType must be \"text\", \"bytes\", \"json\" or \"event\", not \"{valueType}\".", nameof(valueType));
        var caught = caughtCloseCodes ?? [1000, 1001];
        HandlerResults.CheckReturnType(returnType, $"WebSocket handler for '{pattern}'");
        var route = new Route(pattern, null, (compiled, isService) =>
        {
            var bound = bind(compiled, isService);
            // Registered under its own key, beside any HTTP handlers of the same pattern: the handshake reaches only this one.
            return new Dictionary<string, Handler>(StringComparer.OrdinalIgnoreCase)
            {
                [RouteTable.WebSocketMethod] = (req, res) => WebSocketEndpoint.RunAsync(req, res, bound, autoAccept, valueType, caught),
            };
        }, [RouteTable.WebSocketMethod]) { ParameterTypes = parameterTypes };
        Register(route);
        return route;
    }

    /// <summary>Includes another router's routes under <paramref name="prefix"/>.</summary>
    public void IncludeRouter(Router router, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(router);
        if (ReferenceEquals(router, this)) throw new ArgumentException("A router cannot include itself.", nameof(router));
        Included.Add((NormalizePrefix(prefix), router));
    }

    /// <summary>Serves everything under <paramref name="prefix"/> with another app (with its own middleware and error handlers).</summary>
    public void Mount(string prefix, App app)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (ReferenceEquals(app, this)) throw new ArgumentException("An app cannot be mounted into itself.", nameof(app));
        Mounts.Add((NormalizeMountPrefix(prefix), () => app.Pipeline));
        MountedApps.Add((NormalizeMountPrefix(prefix), app));
    }

    /// <summary>Serves everything under <paramref name="prefix"/> with a handler, e.g. <c>Static.Files("assets")</c>.</summary>
    public void Mount(string prefix, Handler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Mounts.Add((NormalizeMountPrefix(prefix), () => handler));
    }

    /// <summary>A <c>(req, res)</c> handler: nothing to bind, no reflection (what Native AOT apps use).</summary>
    private protected Route AddDirect(string pattern, Delegate handler, string[]? methods, string? name)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(handler);
        var verbs = Normalize(methods);
        var describe = $"handler for '{pattern}'";
        HandlerResults.CheckReturnType(handler.Method, describe);
        Handler bound = handler switch
        {
            Func<Request, Response, Task> f => HandlerResults.Direct(f, describe),
            Action<Request, Response> a => (req, res) => { a(req, res); return Task.CompletedTask; },
            _ => throw new ArgumentException($"The {describe} must be (req, res) => ...", nameof(handler)),
        };
        var route = new Route(pattern, name, (_, _) => verbs.ToDictionary(v => v, _ => bound, StringComparer.OrdinalIgnoreCase), verbs);
        Register(route);
        return route;
    }

    /// <summary>A handler bound by generated code (see <see cref="Binding.GeneratedRoutes"/>).</summary>
    internal Route AddGenerated(string pattern, Delegate handler, string[]? methods, string? name, Type returnType,
        (string Name, Type Type)[] parameters, Func<Binding.RouteBinder, Handler> bind)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(handler);
        var verbs = Normalize(methods);
        HandlerResults.CheckReturnType(returnType, $"handler for '{pattern}'");
        var types = TypesOf(parameters);
        var route = new Route(pattern, name, (compiled, isService) =>
        {
            var bound = bind(new Binding.RouteBinder(compiled, isService));
            return verbs.ToDictionary(v => v, _ => bound, StringComparer.OrdinalIgnoreCase);
        }, verbs) { ParameterTypes = types };
        Register(route);
        return route;
    }

    [RequiresUnreferencedCode(Aot.Binder), RequiresDynamicCode(Aot.Binder)]
    private protected Route Add(string pattern, Delegate handler, string[]? methods, string? name)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(handler);
        var verbs = Normalize(methods);
        HandlerResults.CheckReturnType(handler.Method, $"handler for '{pattern}'");
        var route = new Route(pattern, name, (compiled, isService) =>
        {
            var bound = ParameterBinder.Compile(handler, compiled, isService);
            return verbs.ToDictionary(v => v, _ => bound, StringComparer.OrdinalIgnoreCase);
        }, verbs) { ParameterTypes = Bocata.Route.TypesOf([handler.Method]) };
        Register(route);
        return route;
    }

    private static string Verb(string method) => method == RouteTable.WebSocketMethod ? "WebSocket" : method;

    private void Register(Route route)
    {
        foreach (var existing in RouteList)
        {
            var samePath = existing.Path == route.Path;
            if (!samePath && existing.Pattern.Shape != route.Pattern.Shape) continue;
            foreach (var method in route.Methods)
            {
                if (!existing.Methods.Contains(method, StringComparer.OrdinalIgnoreCase) && method != "*" && !existing.Methods.Contains("*")) continue;
                if (samePath) throw new ArgumentException($"Route {method} {route.Path} is already registered.");
                // Routes match in registration order: /items/{id} after /items/{pk} would never be reached.
                throw new ArgumentException($"Route {Verb(method)} {route.Path} can never match: {Verb(method)} {existing.Path}, added before it, matches the same paths. " +
                    "Remove one, or make the patterns differ (e.g. a literal segment).");
            }
        }
        OnRegister("Route");
        RouteList.Add(route);
    }

    private protected virtual void OnRegister(string what)
    {
    }

    private static string[] Normalize(string[]? methods)
    {
        if (methods is null || methods.Length == 0) return DefaultMethods;
        if (methods is ["*"]) return methods;   // Methods.All
        var result = new string[methods.Length];
        for (var i = 0; i < methods.Length; i++)
        {
            var m = methods[i];
            if (string.IsNullOrWhiteSpace(m) || !m.All(char.IsAsciiLetter))
                throw new ArgumentException($"'{m}' is not an HTTP method. Use names like \"GET\" or \"POST\", or Methods.All.", nameof(methods));
            result[i] = m.ToUpperInvariant();
        }
        return result;
    }

    private static string NormalizePrefix(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (prefix.Length == 0) return "";
        if (!prefix.StartsWith('/')) throw new ArgumentException($"Prefix '{prefix}' must start with '/'.", nameof(prefix));
        return prefix.TrimEnd('/');
    }

    private static string NormalizeMountPrefix(string prefix)
    {
        var normalized = NormalizePrefix(prefix);
        if (normalized.Length == 0) throw new ArgumentException("A mount needs a prefix such as \"/assets\".", nameof(prefix));
        return normalized;
    }
}
