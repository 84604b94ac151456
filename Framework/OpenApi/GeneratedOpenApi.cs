using System.Collections.Concurrent;
using System.ComponentModel;

namespace Bocata.Binding;

/// <summary>What the code written by Bocata's source generator calls to describe an app in its OpenAPI document: JSON Schemas of
/// the app's types, written at build time (no reflection at run time, so the document is the same under Native AOT), and what each
/// route's handler was seen to do. Not meant to be called by hand.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class GeneratedOpenApi
{
    private static readonly ConcurrentDictionary<Type, (string? Name, string Schema)> Schemas = new();

    /// <summary>Registers the JSON Schema (2020-12) of <paramref name="type"/>: a named one goes once under
    /// <c>components.schemas</c> and is referenced, an unnamed one (a collection, say) is written inline.</summary>
    /// <param name="type">The type the schema describes.</param>
    /// <param name="name">Its name under <c>components.schemas</c>, or null to write it inline.</param>
    /// <param name="schema">The schema, as JSON.</param>
    public static void Schema(Type type, string? name, string schema)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentNullException.ThrowIfNull(schema);
        Schemas[type] = (name, schema);
    }

    /// <summary>Records what the handler of <paramref name="route"/> was seen to do, and returns the route.</summary>
    /// <param name="route">The route just registered.</param>
    /// <param name="body">The schema (JSON) of the body read with <c>req.JsonAsync&lt;T&gt;()</c>, or null.</param>
    /// <param name="status">The literal status the handler sets (200 when it sets none).</param>
    /// <param name="response">The schema (JSON) of what the handler assigns to <c>res.Json</c>, or null.</param>
    /// <param name="eventStream">Whether the handler answers with an event stream.</param>
    public static Route Infer(Route route, string? body, int status, string? response, bool eventStream)
    {
        ArgumentNullException.ThrowIfNull(route);
        var info = route.OpenApi;
        info.InferredBody = body;
        info.InferredEventStream = eventStream;
        if (response is not null || status != 200 || !eventStream) info.InferredResponses.Add((status, response));
        return route;
    }

    /// <summary>The registered schema of <paramref name="type"/>, or null.</summary>
    internal static (string? Name, string Schema)? Find(Type type) => Schemas.TryGetValue(type, out var found) ? found : null;

    /// <summary>Every named schema registered, ordered by name so the document's bytes do not depend on registration order.</summary>
    internal static List<(string Name, string Schema)> Named()
    {
        var named = new List<(string Name, string Schema)>();
        foreach (var (_, (name, schema)) in Schemas)
            if (name is not null) named.Add((name, schema));
        named.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return named;
    }
}
