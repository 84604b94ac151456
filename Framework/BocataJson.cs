using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Bocata;

/// <summary>The JSON options used by <c>res.Json</c>, <c>req.JsonAsync</c> and <c>ServerEvent(json:)</c>.</summary>
public static class BocataJson
{
    /// <summary>System.Text.Json's web defaults (camelCase, case-insensitive reading), with non-ASCII text left unescaped.</summary>
    /// <remarks>An app's own options are <c>Settings.Json</c> (these, until you change them in <c>app.Configure</c>); these
    /// process-wide ones serve what has no app at hand: <c>new ServerEvent(json: …)</c>. They also know every type of the JSON
    /// contexts an app added to <c>Settings.Json</c> (from the moment that app starts), so a Native AOT app registers its
    /// context once, in <c>Settings.Json</c>.</remarks>
    public static JsonSerializerOptions Options { get; } = CreateOptions(readOnly: true);

    internal static JsonSerializerOptions CreateOptions(bool readOnly)
    {
        // Non-ASCII text stays readable UTF-8; HTML-sensitive characters (<, >, &, ') are still escaped.
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.Create(System.Text.Unicode.UnicodeRanges.All),
        };
        // The process-wide options first ask the contexts apps registered; an app's own start with Bocata's context.
        if (readOnly) options.TypeInfoResolverChain.Add(AppResolvers.Instance);
        foreach (var resolver in DefaultResolvers()) options.TypeInfoResolverChain.Add(resolver);
        if (readOnly) options.MakeReadOnly();
        return options;
    }

    /// <summary>Bocata's own resolvers, in order: its source-generated context, the generated shapes of anonymous objects, and
    /// reflection where it is on.</summary>
    private static IJsonTypeInfoResolver[] DefaultResolvers() =>
        ReflectionResolver() is { } reflection
            ? [BocataJsonContext.Default, Binding.GeneratedJson.Resolver, reflection]
            : [BocataJsonContext.Default, Binding.GeneratedJson.Resolver];

    /// <summary>System.Text.Json's reflection-based resolver where reflection-based serialization is on (every JIT-compiled app);
    /// null under Native AOT and trimming, where the feature switch is off and the trimmer removes the resolver.</summary>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Guarded by JsonSerializer.IsReflectionEnabledByDefault, a feature switch that is false when trimming or publishing Native AOT.")]
    [UnconditionalSuppressMessage("AOT", "IL3050", Justification = "Guarded by JsonSerializer.IsReflectionEnabledByDefault, a feature switch that is false when publishing Native AOT.")]
    internal static IJsonTypeInfoResolver? ReflectionResolver() =>
        JsonSerializer.IsReflectionEnabledByDefault ? new DefaultJsonTypeInfoResolver() : null;

    /// <summary>Freezes an app's options; the contexts the app added become known to <see cref="Options"/> too.</summary>
    internal static void Freeze(JsonSerializerOptions options)
    {
        if (options.IsReadOnly) return;
        // A resolver set to null by the app: the defaults again, so nothing depends on reflection being on.
        options.TypeInfoResolver ??= JsonTypeInfoResolver.Combine(DefaultResolvers());
        options.MakeReadOnly();
        AppResolvers.Add(options.TypeInfoResolverChain);
    }

    /// <summary>The metadata to serialize <paramref name="type"/> with, or an error that says how to register the type when no
    /// resolver knows it (Native AOT, where reflection-based JSON is off).</summary>
    internal static JsonTypeInfo TypeInfo(JsonSerializerOptions options, Type type)
    {
        try
        {
            return options.GetTypeInfo(type);
        }
        catch (NotSupportedException e) when (!JsonSerializer.IsReflectionEnabledByDefault)
        {
            throw Unregistered(type, e);
        }
    }

    /// <summary><see cref="TypeInfo(JsonSerializerOptions, Type)"/>, typed.</summary>
    internal static JsonTypeInfo<T> TypeInfo<T>(JsonSerializerOptions options) => (JsonTypeInfo<T>)TypeInfo(options, typeof(T));

    private static InvalidOperationException Unregistered(Type type, Exception inner)
    {
        var anonymous = type.Name.Contains("AnonymousType", StringComparison.Ordinal);
        var name = anonymous ? "YourRecord" : Friendly(type);
        return new InvalidOperationException(
            (anonymous ? "An anonymous object cannot be serialized here: " : $"{Friendly(type)} cannot be serialized here: ") +
            "reflection-based JSON is off (Native AOT or trimming) and no JSON context in Settings.Json knows the type. " +
            (anonymous ? "Use a record instead of the anonymous object and " : "") +
            $"add [JsonSerializable(typeof({name}))] to a JsonSerializerContext, then register it once: " +
            "app.Configure(s => s.Json.TypeInfoResolverChain.Insert(0, AppJson.Default)). See docs/guide/aot.md.", inner);
    }

    private static string Friendly(Type type) =>
        type.IsGenericType && type.Name.IndexOf('`') is var tick and > 0
            ? $"{type.Name[..tick]}<{string.Join(", ", type.GenericTypeArguments.Select(Friendly))}>"
            : type.Name;

    /// <summary>The resolvers of every started app's <c>Settings.Json</c>, asked by the process-wide <see cref="Options"/>.</summary>
    private sealed class AppResolvers : IJsonTypeInfoResolver
    {
        public static readonly AppResolvers Instance = new();
        private static readonly object Gate = new();
        private static IJsonTypeInfoResolver[] s_resolvers = [];

        public static void Add(IEnumerable<IJsonTypeInfoResolver> chain)
        {
            lock (Gate)
            {
                var added = chain.Where(r => r is not DefaultJsonTypeInfoResolver && r != BocataJsonContext.Default && r != Binding.GeneratedJson.Resolver && !s_resolvers.Contains(r));
                s_resolvers = [.. s_resolvers, .. added];
            }
        }

        public JsonTypeInfo? GetTypeInfo(Type type, JsonSerializerOptions options)
        {
            foreach (var resolver in Volatile.Read(ref s_resolvers))
                if (resolver.GetTypeInfo(type, options) is { } info) return info;
            return null;
        }
    }
}

/// <summary>Metadata for the types Bocata serializes itself (error details, session cookies) and the everyday ones an app
/// sends without a context of its own: strings, numbers, lists and dictionaries of them, <see cref="JsonElement"/> and
/// <see cref="JsonNode"/>.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(SessionCookie.Payload))]
[JsonSerializable(typeof(ErrorHandlers.ErrorBody))]
[JsonSerializable(typeof(ErrorHandlers.ErrorBodyWithDetail))]
[JsonSerializable(typeof(object))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(bool))]
[JsonSerializable(typeof(int))]
[JsonSerializable(typeof(long))]
[JsonSerializable(typeof(double))]
[JsonSerializable(typeof(float))]
[JsonSerializable(typeof(decimal))]
[JsonSerializable(typeof(Guid))]
[JsonSerializable(typeof(DateTime))]
[JsonSerializable(typeof(DateTimeOffset))]
[JsonSerializable(typeof(DateOnly))]
[JsonSerializable(typeof(TimeOnly))]
[JsonSerializable(typeof(TimeSpan))]
[JsonSerializable(typeof(string[]))]
[JsonSerializable(typeof(int[]))]
[JsonSerializable(typeof(double[]))]
[JsonSerializable(typeof(object[]))]
[JsonSerializable(typeof(List<string>))]
[JsonSerializable(typeof(List<object?>))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(Dictionary<string, object?>))]
[JsonSerializable(typeof(Dictionary<string, int>))]
[JsonSerializable(typeof(Dictionary<string, double>))]
[JsonSerializable(typeof(Dictionary<string, string[]>))]
[JsonSerializable(typeof(IReadOnlyDictionary<string, string>))]
[JsonSerializable(typeof(IReadOnlyDictionary<string, object?>))]
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(JsonDocument))]
[JsonSerializable(typeof(JsonNode))]
[JsonSerializable(typeof(JsonObject))]
[JsonSerializable(typeof(JsonArray))]
internal sealed partial class BocataJsonContext : JsonSerializerContext;
