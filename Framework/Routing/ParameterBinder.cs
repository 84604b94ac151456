using System.Diagnostics.CodeAnalysis;
using System.Linq.Expressions;
using System.Reflection;

namespace Bocata;

/// <summary>Compiles a handler delegate or method into a <see cref="Handler"/> once per route: route parameters by name, query defaults, services.</summary>
[RequiresUnreferencedCode(Aot.Binder), RequiresDynamicCode(Aot.Binder)]
internal static class ParameterBinder
{
    private static readonly MethodInfo PathMethod = typeof(Bind).GetMethod(nameof(Bind.Path))!;
    private static readonly MethodInfo QueryMethod = typeof(Bind).GetMethod(nameof(Bind.Query))!;
    private static readonly MethodInfo ServiceMethod = typeof(Bind).GetMethod(nameof(Bind.Service))!;
    private static readonly MethodInfo ViewMethod = typeof(Bind).GetMethod(nameof(Bind.View))!;
    private static readonly MethodInfo CheckMethod = typeof(Bind).GetMethod(nameof(Bind.Check))!;
    private static readonly MethodInfo ValidateMethod = typeof(Bind).GetMethod(nameof(Bind.Validate))!;
    private static readonly MethodInfo ReturnedMethod = typeof(Bind).GetMethod(nameof(Bind.Returned))!;
    private static readonly MethodInfo ReturnedAsyncMethod = typeof(Bind).GetMethod(nameof(Bind.ReturnedAsync))!;

    public static Handler Compile(Delegate handler, RoutePattern pattern, Func<Type, bool> isService)
    {
        switch (handler)
        {
            case Handler h: return h;
            // Exactly Task: a Func<Request, Response, Task<string>> is one too (covariance) and must have its result checked.
            case Func<Request, Response, Task> f when f.Method.ReturnType == typeof(Task): return new Handler(f);
            case Action<Request, Response> a: return (req, res) => { a(req, res); return Task.CompletedTask; };
        }
        return Compile(handler.Method, Expression.Constant(handler), pattern, isService, describe: $"handler for '{pattern.Text}'");
    }

    /// <summary>A WebSocket handler <c>(WebSocket ws, …)</c> in two steps: binding its parameters from the handshake request (before
    /// the handshake is accepted, so a bad value can refuse it) and calling it with the accepted socket.</summary>
    public static WebSocketBinding CompileWebSocket(Delegate handler, RoutePattern pattern, Func<Type, bool> isService)
    {
        if (handler is Func<WebSocket, Task> simple) return new WebSocketBinding(static _ => [], (ws, _) => simple(ws));
        Interlocked.Increment(ref Compilations);
        var method = handler.Method;
        var describe = $"WebSocket handler for '{pattern.Text}'";
        var parameters = method.GetParameters();
        if (parameters.Length == 0 || parameters[0].ParameterType != typeof(WebSocket))
            throw new ArgumentException($"The {describe} must take (WebSocket ws) first, then route parameters; it takes ({string.Join(", ", parameters.Select(p => $"{p.ParameterType.Name} {p.Name}"))}).");

        var req = Expression.Parameter(typeof(Request), "req");
        var values = new List<Expression>();
        foreach (var p in parameters.Skip(1))
            values.Add(Expression.Convert(BindParameter(p, pattern, req, isService, describe, out _), typeof(object)));
        // bind: convert every value (so one refusal lists them all), then check.
        var array = Expression.Variable(typeof(object[]), "values");
        var bindBody = Expression.Block(typeof(object[]), [array],
            Expression.Assign(array, Expression.NewArrayInit(typeof(object), values)),
            Expression.Call(CheckMethod, req),
            array);
        var bind = Expression.Lambda<Func<Request, object?[]>>(bindBody, req).Compile();

        var ws = Expression.Parameter(typeof(WebSocket), "ws");
        var args = Expression.Parameter(typeof(object?[]), "args");
        var callArgs = new List<Expression> { ws };
        for (var i = 1; i < parameters.Length; i++)
            callArgs.Add(Expression.Convert(Expression.ArrayIndex(args, Expression.Constant(i - 1)), parameters[i].ParameterType));
        Expression call = Expression.Invoke(Expression.Constant(handler), callArgs);
        call = call.Type == typeof(void) ? Expression.Block(call, Expression.Constant(Task.CompletedTask))
            : call.Type == typeof(ValueTask) ? Expression.Call(call, typeof(ValueTask).GetMethod(nameof(ValueTask.AsTask))!)
            : Expression.Convert(call, typeof(Task));
        var invoke = Expression.Lambda<Func<WebSocket, object?[], Task>>(call, ws, args).Compile();
        return new WebSocketBinding(bind, invoke);
    }

    public static Handler CompileViewMethod(Type viewType, MethodInfo method, RoutePattern pattern, Func<Type, bool> isService) =>
        Compile(method, null, pattern, isService, describe: $"{viewType.Name}.{method.Name} for '{pattern.Text}'", viewType);

    public static Handler CompileStatic(MethodInfo method, RoutePattern pattern, Func<Type, bool> isService) =>
        Compile(method, null, pattern, isService, describe: $"{method.DeclaringType?.Name}.{method.Name} for '{pattern.Text}'");

    /// <summary>How many handlers this binder has compiled (tests check that generated binders bypass it).</summary>
    internal static int Compilations;

    private static Handler Compile(MethodInfo method, Expression? delegateTarget, RoutePattern pattern, Func<Type, bool> isService, string describe, Type? viewType = null)
    {
        Interlocked.Increment(ref Compilations);
        var parameters = method.GetParameters();
        if (parameters.Length < 2 || parameters[0].ParameterType != typeof(Request) || parameters[1].ParameterType != typeof(Response))
            throw new ArgumentException($"The {describe} must take (Request req, Response res) first, then route parameters; it takes ({string.Join(", ", parameters.Select(p => $"{p.ParameterType.Name} {p.Name}"))}).");

        var req = Expression.Parameter(typeof(Request), "req");
        var res = Expression.Parameter(typeof(Response), "res");
        var args = new List<Expression> { req, res };
        var needsCheck = false;
        foreach (var p in parameters.Skip(2))
        {
            args.Add(BindParameter(p, pattern, req, isService, describe, out var converted));
            needsCheck |= converted;
        }

        Expression call;
        if (viewType is not null)
            call = Expression.Call(Expression.Call(ViewMethod.MakeGenericMethod(viewType), req), method, args);
        else if (delegateTarget is not null)
            call = Expression.Invoke(delegateTarget, args);
        else
            call = Expression.Call(method, args);

        var body = new List<Expression>();
        var locals = new List<ParameterExpression>();
        if (needsCheck)
        {
            // Convert every argument first so one 400 lists every bad parameter, then call.
            for (var i = 2; i < args.Count; i++)
            {
                var local = Expression.Variable(args[i].Type, parameters[i].Name);
                locals.Add(local);
                body.Add(Expression.Assign(local, args[i]));
                args[i] = local;
            }
            body.Add(Expression.Call(CheckMethod, req));
            call = viewType is not null
                ? Expression.Call(Expression.Call(ViewMethod.MakeGenericMethod(viewType), req), method, args)
                : delegateTarget is not null ? Expression.Invoke(delegateTarget, args) : Expression.Call(method, args);
        }
        body.Add(AsTask(call, req, res, describe));
        var lambda = Expression.Lambda<Handler>(Expression.Block(typeof(Task), locals, body), req, res);
        return lambda.Compile();
    }

    /// <summary>One handler parameter's value: a route parameter by name, a query parameter when it has a default, or a provided
    /// service — converted and validated (<paramref name="converted"/>: a binding error is possible). Anything else is refused
    /// at startup with a message that says how to fix it.</summary>
    private static Expression BindParameter(ParameterInfo p, RoutePattern pattern, ParameterExpression req, Func<Type, bool> isService, string describe, out bool converted)
    {
        var name = p.Name ?? throw new ArgumentException($"The {describe} has an unnamed parameter.");
        var type = p.ParameterType;
        var (source, index) = ParameterSources.Classify(name, type, p.HasDefaultValue, pattern, isService, describe);
        converted = source != ParameterSource.Service;
        switch (source)
        {
            case ParameterSource.Path:
                return Validated(p, Expression.Call(PathMethod.MakeGenericMethod(type), req, Expression.Constant(index), Expression.Constant(name)), req);
            case ParameterSource.Query:
                var fallback = p.DefaultValue is null || p.DefaultValue is DBNull ? Expression.Default(type) : (Expression)Expression.Convert(Expression.Constant(p.DefaultValue), type);
                return Validated(p, Expression.Call(QueryMethod.MakeGenericMethod(type), req, Expression.Constant(name), fallback), req);
            default:
                return Expression.Call(ServiceMethod.MakeGenericMethod(type), req);
        }
    }

    /// <summary>Wraps a converted parameter with its DataAnnotations, if it has any.</summary>
    private static Expression Validated(ParameterInfo parameter, Expression converted, ParameterExpression req)
    {
        var attributes = parameter.GetCustomAttributes<System.ComponentModel.DataAnnotations.ValidationAttribute>(inherit: true).ToArray();
        if (attributes.Length == 0) return converted;
        return Expression.Call(ValidateMethod.MakeGenericMethod(parameter.ParameterType), req, Expression.Constant(parameter.Name), converted, Expression.Constant(attributes));
    }

    /// <summary>
    /// The handler's result as a Task. Bocata sends what a handler sets on <c>res</c>, never what it returns, so a handler that
    /// returns a value is refused when it is registered — unless the value can be the incidental result of an expression-bodied
    /// assignment (<c>res.Text = …</c> gives a string, <c>res.StatusCode = 201</c> an int): then the value is checked when the
    /// handler runs, and one that no assignment explains (a returned "hello" with no body set) is an error, not an empty 200.
    /// </summary>
    private static Expression AsTask(Expression call, ParameterExpression req, ParameterExpression res, string describe)
    {
        var type = call.Type;
        if (type == typeof(void)) return Expression.Block(call, Expression.Constant(Task.CompletedTask));
        if (type == typeof(Task)) return call;
        if (type == typeof(ValueTask)) return Expression.Call(call, typeof(ValueTask).GetMethod(nameof(ValueTask.AsTask))!);
        var task = call;
        var result = type;
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(ValueTask<>))
        {
            task = Expression.Call(call, type.GetMethod("AsTask")!);
            result = type.GenericTypeArguments[0];
        }
        else if (typeof(Task).IsAssignableFrom(type) && type.IsGenericType)
        {
            result = type.GenericTypeArguments[0];
        }
        else if (typeof(Task).IsAssignableFrom(type))
        {
            return Expression.Convert(call, typeof(Task));
        }
        HandlerResults.RefuseReturnedValue(result, describe);
        var describeConstant = Expression.Constant(describe);
        return task == call && !typeof(Task).IsAssignableFrom(type)
            ? Expression.Call(ReturnedMethod, req, res, Expression.Convert(call, typeof(object)), describeConstant)
            : Expression.Call(ReturnedAsyncMethod.MakeGenericMethod(result), task, req, res, describeConstant);
    }
}

/// <summary>A compiled WebSocket handler: <see cref="Bind"/> reads its parameters from the handshake request (throwing
/// <see cref="HttpError"/> 400 when one does not convert), <see cref="Invoke"/> runs it on the accepted socket.</summary>
internal sealed record WebSocketBinding(Func<Request, object?[]> Bind, Func<WebSocket, object?[], Task> Invoke);

/// <summary>What a handler may return (checked when its route is added, with no reflection beyond its signature).</summary>
internal static class HandlerResults
{
    /// <summary>A <c>(req, res)</c> handler as a <see cref="Handler"/>. A <c>Func&lt;Request, Response, Task&lt;string&gt;&gt;</c> is one too
    /// (covariance): its result is checked as the binder checks one (see <c>Bind.Returned</c>).</summary>
    public static Handler Direct(Func<Request, Response, Task> handler, string describe)
    {
        if (handler.Method.ReturnType == typeof(Task)) return new Handler(handler);
        return async (req, res) =>
        {
            var task = handler(req, res);
            await task;
            // Only these results can be incidental (CheckReturnType refused the rest when the route was added).
            object? value = task switch
            {
                Task<string> t => t.Result,
                Task<object> t => t.Result,
                Task<int> t => t.Result,
                Task<bool> t => t.Result,
                Task<byte[]> t => t.Result,
                _ => null,
            };
            await Bind.Returned(req, res, value, describe);
        };
    }

    /// <summary>Refuses, when the route is added, a handler whose result can only be a returned value (an anonymous object, a
    /// record, a list…): see ParameterBinder.AsTask.</summary>
    public static void CheckReturnType(MethodInfo method, string describe) => CheckReturnType(method.ReturnType, describe);

    /// <summary><see cref="CheckReturnType(MethodInfo, string)"/> for a return type known at compile time (generated binders).</summary>
    public static void CheckReturnType(Type type, string describe)
    {
        if (type == typeof(void) || type == typeof(Task) || type == typeof(ValueTask)) return;
        if (type.IsGenericType && (type.GetGenericTypeDefinition() == typeof(ValueTask<>) || typeof(Task).IsAssignableFrom(type)))
            type = type.GenericTypeArguments[0];
        else if (typeof(Task).IsAssignableFrom(type)) return;
        RefuseReturnedValue(type, describe);
    }

    public static void RefuseReturnedValue(Type result, string describe)
    {
        if (Bind.CanBeIncidental(result)) return;
        throw new ArgumentException($"The {describe} returns a value ({Friendly(result)}), but Bocata sends only what a handler sets on res. " +
            "Set the response instead of returning it: res.Json = new { ... } (or res.Text = \"...\", res.Html = ...). " +
            "If the value is incidental, give the lambda a block body: (req, res, ...) => { ...; }.");
    }

    private static string Friendly(Type type) =>
        type.Name.Contains("AnonymousType", StringComparison.Ordinal) ? "an anonymous object"
        : type.IsGenericType ? $"{type.Name[..type.Name.IndexOf('`')]}<{string.Join(", ", type.GenericTypeArguments.Select(Friendly))}>"
        : type.Name;
}
