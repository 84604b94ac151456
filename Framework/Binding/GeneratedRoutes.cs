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
}

/// <summary>Binds one route's parameters for generated code, with the runtime binder's rules and messages.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class RouteBinder
{
    private readonly RoutePattern _pattern;
    private readonly Func<Type, bool> _isService;

    internal RouteBinder(RoutePattern pattern, Func<Type, bool> isService)
    {
        _pattern = pattern;
        _isService = isService;
        Describe = $"handler for '{pattern.Text}'";
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
