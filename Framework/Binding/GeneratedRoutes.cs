using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace Bocata.Binding;

/// <summary>What the code written by Bocata's source generator calls: a route whose handler was bound at compile time (no
/// reflection, no compiled expressions — what Native AOT needs). Not meant to be called by hand.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class GeneratedRoutes
{
    /// <summary>Registers <paramref name="handler"/> on <paramref name="router"/>; <paramref name="bind"/> builds the bound handler
    /// once the app starts (when the final pattern and the provided services are known).</summary>
    /// <param name="router">The router or app the call was made on.</param>
    /// <param name="pattern">The route pattern.</param>
    /// <param name="handler">The user's handler (kept for the same checks as the runtime binder's).</param>
    /// <param name="methods">The HTTP methods, as passed to the intercepted call (null or empty: GET).</param>
    /// <param name="name">The route's name, or null.</param>
    /// <param name="returnType">The handler's declared return type.</param>
    /// <param name="parameters">The handler's parameters after (req, res), by name and type (hooks see them converted).</param>
    /// <param name="bind">Builds the bound handler.</param>
    public static Route Add(Router router, string pattern, Delegate handler, string[]? methods, string? name, Type returnType,
        (string Name, Type Type)[] parameters, Func<RouteBinder, Handler> bind)
    {
        ArgumentNullException.ThrowIfNull(router);
        ArgumentNullException.ThrowIfNull(bind);
        ArgumentNullException.ThrowIfNull(parameters);
        return router.AddGenerated(pattern, handler, methods, name, returnType, parameters, bind);
    }

    /// <summary>Registers a class-based view whose handler methods were bound at compile time.</summary>
    /// <param name="router">The router or app the call was made on.</param>
    /// <param name="pattern">The route pattern (the call's, or the view's <c>[Route]</c>).</param>
    /// <param name="name">The route's name, or null.</param>
    /// <param name="parameters">Every handler's parameters after (req, res), by name and type (hooks see them converted).</param>
    /// <param name="handlers">One per HTTP method the view answers (<c>*</c> for <c>Handle</c>).</param>
    public static Route AddView(Router router, string pattern, string? name, (string Name, Type Type)[] parameters, params GeneratedHandler[] handlers)
    {
        ArgumentNullException.ThrowIfNull(router);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(handlers);
        return router.AddGeneratedView(pattern, name, parameters, handlers);
    }

    /// <summary>Registers a static <c>[Route]</c> method bound at compile time (attribute routing).</summary>
    /// <param name="router">The router or app the call was made on.</param>
    /// <param name="pattern">The method's <c>[Route]</c> pattern.</param>
    /// <param name="name">The route's name, or null.</param>
    /// <param name="methods">The HTTP methods of its <c>[Route]</c> (none: GET).</param>
    /// <param name="parameters">The method's parameters after (req, res), by name and type.</param>
    /// <param name="handler">The bound method.</param>
    public static Route AddStatic(Router router, string pattern, string? name, string[] methods, (string Name, Type Type)[] parameters, GeneratedHandler handler)
    {
        ArgumentNullException.ThrowIfNull(router);
        ArgumentNullException.ThrowIfNull(handler);
        return router.AddGeneratedStatic(pattern, name, methods, parameters, handler);
    }

    /// <summary>A view's, view method's or <c>[Route]</c> method's <c>[Requires]</c>, as the first of its before hooks.</summary>
    /// <param name="names">The names of the attribute.</param>
    public static IHook Requires(params string[] names) => new RequiresHook(Requirements.Checked(names));

    private sealed class RequiresHook(string[] names) : IHook
    {
        public Task InvokeAsync(Request req, Response res, IReadOnlyDictionary<string, object?> pathParams)
        {
            Requirements.Check(req, names);
            return Task.CompletedTask;
        }
    }

    /// <summary>The view instance for one request: a provided service, or a new one with its constructor's services.</summary>
    /// <typeparam name="T">The view class.</typeparam>
    /// <param name="req">The request.</param>
    public static T View<[System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicConstructors)] T>(Request req)
        where T : class => Bind.View<T>(req);

    /// <summary>Registers a WebSocket <paramref name="handler"/> taking <c>(WebSocket ws, …)</c> on <paramref name="router"/>:
    /// <paramref name="bind"/> builds, once the app starts, what reads the handshake's parameters (converted and checked, so a
    /// refusal lists them all); <paramref name="invoke"/> calls the handler with them.</summary>
    /// <param name="router">The router or app the call was made on.</param>
    /// <param name="pattern">The route pattern.</param>
    /// <param name="handler">The user's handler.</param>
    /// <param name="autoAccept">As passed to the intercepted call.</param>
    /// <param name="valueType">As passed to the intercepted call.</param>
    /// <param name="caughtCloseCodes">As passed to the intercepted call.</param>
    /// <param name="returnType">The handler's declared return type.</param>
    /// <param name="parameters">The handler's parameters after the WebSocket, by name and type.</param>
    /// <param name="bind">Builds the parameter reader.</param>
    /// <param name="invoke">Calls the handler with the values read.</param>
    public static Route AddWebSocket(Router router, string pattern, Delegate handler, bool autoAccept, string valueType, int[]? caughtCloseCodes,
        Type returnType, (string Name, Type Type)[] parameters, Func<RouteBinder, Func<Request, object?[]>> bind, Func<WebSocket, object?[], Task> invoke)
    {
        ArgumentNullException.ThrowIfNull(router);
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(bind);
        ArgumentNullException.ThrowIfNull(invoke);
        return router.AddGeneratedWebSocket(pattern, autoAccept, valueType, caughtCloseCodes, returnType, parameters,
            (compiled, isService) => new WebSocketBinding(bind(new RouteBinder(compiled, isService, $"WebSocket handler for '{compiled.Text}'")), invoke));
    }
}

/// <summary>Binds one route's parameters for generated code, with the runtime binder's rules and messages.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class RouteBinder
{
    private readonly RoutePattern _pattern;
    private readonly Func<Type, bool> _isService;

    internal RouteBinder(RoutePattern pattern, Func<Type, bool> isService, string? describe = null)
    {
        _pattern = pattern;
        _isService = isService;
        Describe = describe ?? $"handler for '{pattern.Text}'";
    }

    /// <summary>How errors name this handler.</summary>
    public string Describe { get; }

    /// <summary>Whether some parameter converts a value (so the request's binding errors must be checked before the call).</summary>
    public bool NeedsCheck { get; private set; }

    /// <summary>A parameter's source (route value, query value with its default, or provided service), converted and validated.</summary>
    public Func<Request, T> Parameter<T>(string name, bool hasDefault, T fallback, ValidationAttribute[]? validation)
    {
        var (source, index) = ParameterSources.Classify(name, typeof(T), hasDefault, _pattern, _isService, Describe);
        if (source == ParameterSource.Service) return static req => (T)req.RequestServices.GetService(typeof(T))!;
        NeedsCheck = true;
        Func<Request, T> convert = source == ParameterSource.Path ? req => Bind.Path<T>(req, index, name) : req => Bind.Query(req, name, fallback);
        if (validation is not { Length: > 0 }) return convert;
        return req => Bind.Validate(req, name, convert(req), validation);
    }

    /// <summary>Throws the 400 that lists every parameter that did not convert or validate.</summary>
    public static void Check(Request req) => Bind.Check(req);

    /// <summary>A handler's returned value, checked as the runtime binder checks it.</summary>
    public Task Returned(Request req, Response res, object? value) => Bind.Returned(req, res, value, Describe);

    /// <summary>A handler's asynchronous result, checked as the runtime binder checks it.</summary>
    public Task ReturnedAsync<T>(Task<T> task, Request req, Response res) => Bind.ReturnedAsync(task, req, res, Describe);
}

/// <summary>One method of a view or one static <c>[Route]</c> method, bound by Bocata's source generator.</summary>
/// <param name="Method">The HTTP method it answers (<c>GET</c>, …, or <c>*</c> for a view's <c>Handle</c>).</param>
/// <param name="Describe">How errors name it: <c>Type.Method</c>.</param>
/// <param name="ReturnType">Its declared return type.</param>
/// <param name="Before">The hooks of its <c>[Before]</c> attributes (the class's first).</param>
/// <param name="After">The hooks of its <c>[After]</c> attributes (the class's last).</param>
/// <param name="Bind">Builds the bound handler.</param>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed record GeneratedHandler(string Method, string Describe, Type ReturnType, IHook[] Before, IHook[] After, Func<RouteBinder, Handler> Bind);
