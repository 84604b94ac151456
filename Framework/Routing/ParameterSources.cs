namespace Bocata;

/// <summary>Where a handler parameter's value comes from.</summary>
internal enum ParameterSource
{
    Path,
    Query,
    Service,
}

/// <summary>The one rule both binders follow (the runtime one and the code the source generator writes): a route parameter by
/// name, a query parameter when it has a default, or a provided service — anything else refused when the route is built, with
/// a message that says how to fix it.</summary>
internal static class ParameterSources
{
    public static (ParameterSource Source, int Index) Classify(string name, Type type, bool hasDefault, RoutePattern pattern, Func<Type, bool> isService, string describe)
    {
        var index = pattern.IndexOf(name);
        if (index >= 0)
        {
            if (!Bind.IsConvertible(type))
                throw new ArgumentException($"The {describe}: parameter '{name}' is {type.Name}, which cannot come from the URL. Use string, int, long, double, decimal, bool, Guid, DateOnly, DateTime or an enum.");
            return (ParameterSource.Path, index);
        }
        if (hasDefault && Bind.IsConvertible(type)) return (ParameterSource.Query, -1);
        if (isService(type)) return (ParameterSource.Service, -1);
        if (!Bind.IsConvertible(type) && !type.IsInterface && !type.IsAbstract)
            throw new ArgumentException($"The {describe}: parameter '{name}' ({type.Name}) is not in the pattern and is not a provided service. " +
                $"If it is the request body, read it in the handler instead: var {name} = await req.JsonAsync<{type.Name}>(); " +
                $"(or register a service with app.Provide<{type.Name}>(...)).");
        throw new ArgumentException($"The {describe}: parameter '{name}' ({type.Name}) is not in the pattern, has no default value and is not a provided service. Add {{{name}}} to the pattern, give it a default to read it from the query string, or register it with app.Provide<{type.Name}>(...).");
    }
}
