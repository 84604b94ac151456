using System.Collections.Concurrent;
using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Bocata.Binding;

/// <summary>JSON metadata for anonymous objects, registered by the code Bocata's source generator writes for each anonymous type
/// an app sends as JSON (<c>res.Json = new { … }</c>, <c>new ServerEvent(json: new { … })</c>): what lets them serialize under
/// Native AOT, where no JSON context can name them; and the app's own JSON contexts, registered the same way. Not meant to be
/// called by hand.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class GeneratedJson
{
    private static readonly ConcurrentDictionary<Type, Func<JsonSerializerOptions, JsonTypeInfo>> Shapes = new();

    /// <summary>Starts the metadata of the anonymous type <typeparamref name="T"/> (inferred from <paramref name="shape"/>, which is
    /// never called).</summary>
    public static AnonymousShape<T> Shape<T>(Func<T> shape) where T : notnull => new();

    /// <summary>A value of an anonymous type, to write a nested anonymous type's shape (never called at run time).</summary>
    public static T Default<T>(Func<T> shape) => default!;

    /// <summary>The app's own source-generated JSON contexts, registered by the generator's module initializer when the app
    /// publishes AOT: they serve every app's JSON options after those in <c>Settings.Json</c>.</summary>
    private static IJsonTypeInfoResolver[] s_contexts = [];

    private static readonly Lock ContextsLock = new();

    /// <summary>Registers one of the app's <c>JsonSerializerContext</c>s (written by Bocata's source generator for each context it
    /// finds in the project).</summary>
    /// <param name="context">The context's <c>Default</c> instance.</param>
    public static void Context(IJsonTypeInfoResolver context)
    {
        ArgumentNullException.ThrowIfNull(context);
        lock (ContextsLock)
            if (Array.IndexOf(s_contexts, context) < 0) s_contexts = [.. s_contexts, context];
    }

    internal static void Add(Type type, Func<JsonSerializerOptions, JsonTypeInfo> create) => Shapes[type] = create;

    internal static bool IsRegistered(Type type) => Shapes.ContainsKey(type);

    /// <summary>Answers for the registered anonymous types (in every app's resolver chain, after Bocata's own context).</summary>
    internal static readonly IJsonTypeInfoResolver Resolver = new ShapeResolver();

    private sealed class ShapeResolver : IJsonTypeInfoResolver
    {
        public JsonTypeInfo? GetTypeInfo(Type type, JsonSerializerOptions options)
        {
            if (Shapes.TryGetValue(type, out var create)) return create(options);
            foreach (var context in Volatile.Read(ref s_contexts))
                if (context.GetTypeInfo(type, options) is { } info) return info;
            return null;
        }
    }
}

/// <summary>The properties of one anonymous type, in declaration order (see <see cref="GeneratedJson"/>).</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class AnonymousShape<T> where T : notnull
{
    private readonly List<Func<JsonSerializerOptions, JsonPropertyInfo>> _properties = [];

    /// <summary>Adds a property read by <paramref name="getter"/>.</summary>
    public AnonymousShape<T> Property<TValue>(string name, Func<T, TValue> getter)
    {
        ArgumentNullException.ThrowIfNull(getter);
        _properties.Add(options => JsonMetadataServices.CreatePropertyInfo(options, new JsonPropertyInfoValues<TValue>
        {
            IsProperty = true,
            IsPublic = true,
            DeclaringType = typeof(T),
            PropertyName = name,
            Getter = value => getter((T)value),
        }));
        return this;
    }

    /// <summary>Makes the type known to every app's JSON options.</summary>
    public void Register()
    {
        var properties = _properties.ToArray();
        GeneratedJson.Add(typeof(T), options => JsonMetadataServices.CreateObjectInfo(options, new JsonObjectInfoValues<T>
        {
            PropertyMetadataInitializer = _ => Array.ConvertAll(properties, p => p(options)),
        }));
    }
}
