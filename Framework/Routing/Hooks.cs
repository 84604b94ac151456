namespace Bocata;

/// <summary>A hook run before or after a route's handler, with the route's parameters.</summary>
public delegate Task Hook(Request req, Response res, IReadOnlyDictionary<string, object?> pathParams);

/// <summary>A hook as a class, for <see cref="BeforeAttribute"/> and <see cref="AfterAttribute"/> on views.</summary>
public interface IHook
{
    /// <summary>Runs the hook.</summary>
    Task InvokeAsync(Request req, Response res, IReadOnlyDictionary<string, object?> pathParams);
}

/// <summary>Runs a hook class before the view's handlers (on the class) or one handler (on a method).</summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = true)]
public sealed class BeforeAttribute(Type hookType) : Attribute
{
    /// <summary>A type implementing <see cref="IHook"/>.</summary>
    public Type HookType { get; } = hookType;
}

/// <summary>Runs a hook class after the view's handlers (on the class) or one handler (on a method).</summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = true)]
public sealed class AfterAttribute(Type hookType) : Attribute
{
    /// <summary>A type implementing <see cref="IHook"/>.</summary>
    public Type HookType { get; } = hookType;
}

/// <summary>Declares the route of a view class or of a static handler method.</summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method)]
public sealed class RouteAttribute(string pattern, params string[] methods) : Attribute
{
    /// <summary>The route pattern.</summary>
    public string Pattern { get; } = pattern;

    /// <summary>The methods (static handlers only; default GET).</summary>
    public string[] Methods { get; } = methods;

    /// <summary>The route's name, for <c>UrlFor</c>.</summary>
    public string? Name { get; set; }
}
