using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Reflection;
using System.Text.Json.Serialization.Metadata;

namespace Bocata;

/// <summary>
/// Validation of a JSON body, as Bocadillo's typesystem does it: <c>required</c> members that are missing and
/// <see cref="System.ComponentModel.DataAnnotations"/> attributes that fail become one 400 whose detail maps each member's
/// JSON name to its message (the same shape as a route parameter's conversion error).
/// </summary>
internal static class JsonValidation
{
    private static readonly ConcurrentDictionary<Type, bool> HasAnnotations = new();

    /// <summary>What validation reads of a body's type: its public properties (kept by the trimmer for every type read with
    /// <c>req.JsonAsync&lt;T&gt;()</c>).</summary>
    public const DynamicallyAccessedMemberTypes Members = DynamicallyAccessedMemberTypes.PublicProperties;

    /// <summary>Reads a request body or a WebSocket message (<paramref name="what"/>) as <typeparamref name="T"/> and validates
    /// it: any failure is <see cref="HttpError"/> 400 with the same wording wherever the JSON came from.</summary>
    public static T Read<[DynamicallyAccessedMembers(Members)] T>(byte[] bytes, JsonSerializerOptions options, string what)
    {
        if (bytes.AsSpan().Trim(" \t\r\n"u8).IsEmpty) throw new HttpError(400, $"JSON is malformed: the {what} is empty.");
        var typeInfo = BocataJson.TypeInfo<T>(options);
        T? value;
        try
        {
            value = JsonSerializer.Deserialize(bytes, typeInfo);
        }
        catch (JsonException e)
        {
            // A syntax error is "malformed"; valid JSON of the wrong shape says what was expected where; `required` members
            // absent from the JSON are named, as validation does.
            if (!IsWellFormed(bytes)) throw new HttpError(400, "JSON is malformed.");
            throw MissingRequired(typeof(T), bytes, options)
                ?? new HttpError(400, $"JSON does not fit: {Mismatch(typeof(T), e.Path, options)}");
        }
        catch (NotSupportedException)
        {
            throw new HttpError(400, "JSON is malformed.");
        }
        if (value is null) throw new HttpError(400, $"JSON is null: expected {Expected(typeof(T), options)}.");
        Validate(value, typeof(T), options);
        return value;
    }

    private static bool IsWellFormed(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        try
        {
            while (reader.Read())
            {
            }
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Validates <paramref name="value"/>'s DataAnnotations; throws <see cref="HttpError"/> 400 with per-member detail.</summary>
    public static void Validate(object value, [DynamicallyAccessedMembers(Members)] Type type, JsonSerializerOptions options)
    {
        if (Failures(value, type, options) is { Count: > 0 } detail) throw new HttpError(400, detail);
    }

    /// <summary>Every member's failed DataAnnotation, by JSON name (null when the type has none). What
    /// <c>Validator.TryValidateObject</c> checks, in its order, without its reflection over an unknown type: each property's
    /// attributes, then (unless a [Required] failed) the class's attributes, then (unless those failed) IValidatableObject.</summary>
    public static Dictionary<string, string>? Failures(object value, [DynamicallyAccessedMembers(Members)] Type type, JsonSerializerOptions options)
    {
        if (!(HasAnnotations.TryGetValue(type, out var annotated) ? annotated : HasAnnotations[type] = HasAny(type))) return null;
        // A type no JSON context knows (Validation.Check of any object under Native AOT) is named by the naming policy alone.
        var info = options.TryGetTypeInfo(type, out var known) ? known : null;
        var detail = new Dictionary<string, string>(StringComparer.Ordinal);
        // Property attributes one by one, so a failure without a message of its own gets typesystem's wording (what a
        // Bocadillo app's clients already read); then the class's attributes and IValidatableObject, as Validator runs them.
        var context = new ValidationContext(value, type.Name, null, null);
        var requiredFailed = false;
        foreach (var property in type.GetProperties())
        {
            if (property.GetIndexParameters().Length > 0) continue;
            var attributes = property.GetCustomAttributes<ValidationAttribute>(inherit: true).ToArray();
            if (attributes.Length == 0) continue;
            var member = property.GetValue(value);
            context.MemberName = property.Name;
            context.DisplayName = property.Name;
            foreach (var attribute in attributes)
            {
                if (attribute.GetValidationResult(member, context) is not { } failed) continue;
                requiredFailed |= attribute is RequiredAttribute;
                detail.TryAdd(JsonName(info, property.Name), Message(attribute, failed, member));
                break;
            }
        }
        if (requiredFailed) return detail;
        context.MemberName = null;
        context.DisplayName = type.Name;
        var classFailed = false;
        foreach (var attribute in type.GetCustomAttributes<ValidationAttribute>(inherit: true))
            if (attribute.GetValidationResult(value, context) is { } failed && failed != ValidationResult.Success)
            {
                classFailed = true;
                Add(failed);
            }
        if (!classFailed && value is IValidatableObject validatable)
            foreach (var result in validatable.Validate(context))
                if (result != ValidationResult.Success) Add(result);
        return detail;

        void Add(ValidationResult result)
        {
            var members = result.MemberNames.Any() ? result.MemberNames : [""];
            foreach (var name in members) detail.TryAdd(JsonName(info, name), result.ErrorMessage ?? "Is not valid.");
        }
    }

    private static bool HasAny([DynamicallyAccessedMembers(Members)] Type type) =>
        type.GetProperties().Any(p => p.IsDefined(typeof(ValidationAttribute), inherit: true))
        || type.IsDefined(typeof(ValidationAttribute), inherit: true)
        || typeof(IValidatableObject).IsAssignableFrom(type);

    /// <summary>The message for a failed attribute: its own when the app wrote one, else typesystem's (Bocadillo's validation
    /// library) for the common attributes, else DataAnnotations' default.</summary>
    public static string Message(ValidationAttribute attribute, ValidationResult failed, object? value)
    {
        if (attribute.ErrorMessage is not null || attribute.ErrorMessageResourceName is not null) return failed.ErrorMessage ?? "Is not valid.";
        return attribute switch
        {
            RequiredAttribute => "This field is required.",
            StringLengthAttribute { MinimumLength: > 0 } length when failed.ErrorMessage is { } m && m.Contains("minimum", StringComparison.Ordinal) => AtLeast(length.MinimumLength),
            StringLengthAttribute length => $"Must have no more than {length.MaximumLength} characters.",
            MaxLengthAttribute max => AtMost(max.Length, value),
            MinLengthAttribute min => AtLeast(min.Length, value),
            LengthAttribute length when Count(value) < length.MinimumLength => AtLeast(length.MinimumLength, value),
            LengthAttribute length => AtMost(length.MaximumLength, value),
            RangeAttribute range when value is IComparable && IsBelow(value, range.Minimum) => $"Must be greater than or equal to {range.Minimum}.",
            RangeAttribute range => $"Must be less than or equal to {range.Maximum}.",
            RegularExpressionAttribute regex => $"Must match the pattern /{regex.Pattern}/.",
            EmailAddressAttribute => "Must be a valid email.",
            UrlAttribute => "Must be a valid URL.",
            _ => failed.ErrorMessage ?? "Is not valid.",
        };
    }

    /// <summary>typesystem's wording: an empty string is "blank".</summary>
    private static string AtLeast(int length) => length <= 1 ? "Must not be blank." : $"Must have at least {length} characters.";

    /// <summary>typesystem's String and Array wordings: characters for a string, items for a collection ("empty" below one).</summary>
    private static string AtLeast(int length, object? value) =>
        value is string ? AtLeast(length) : length <= 1 ? "Must not be empty." : $"Must have at least {length} items.";

    private static string AtMost(int length, object? value) =>
        $"Must have no more than {length} {(value is string ? "characters" : "items")}.";

    private static int Count(object? value) => value switch
    {
        string text => text.Length,
        System.Collections.ICollection collection => collection.Count,
        System.Collections.IEnumerable items => items.Cast<object?>().Count(),
        _ => 0,
    };

    private static bool IsBelow(object value, object minimum)
    {
        try
        {
            return Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture) < Convert.ToDouble(minimum, System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException)
        {
            return false;
        }
    }

    /// <summary>When deserialization failed because <c>required</c> members were absent: a 400 naming each, and every other
    /// member's failed validation with them (the body is read again with nothing required), else null.</summary>
    public static HttpError? MissingRequired([DynamicallyAccessedMembers(Members)] Type type, ReadOnlySpan<byte> json, JsonSerializerOptions options)
    {
        if (options.GetTypeInfo(type) is not { Kind: JsonTypeInfoKind.Object } info) return null;
        var required = info.Properties.Where(p => p.IsRequired).Select(p => p.Name).ToList();
        if (required.Count == 0) return null;
        var present = TopLevelNames(json, options);
        if (present is null) return null;
        var missing = required.Where(name => !present.Contains(name)).ToDictionary(name => name, _ => "This field is required.", StringComparer.Ordinal);
        if (missing.Count == 0) return null;
        try
        {
            if (JsonSerializer.Deserialize(json, NothingRequired(options).GetTypeInfo(type)) is { } partial
                && Failures(partial, type, options) is { } failures)
                foreach (var (name, message) in failures) missing.TryAdd(name, message);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            // The rest does not fit either: the missing members are what the client can act on first.
        }
        return new HttpError(400, missing);
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<JsonSerializerOptions, JsonSerializerOptions> Lenient = new();

    /// <summary>The app's options with no member required: to read a body that lacks some, so the rest is validated too.</summary>
    private static JsonSerializerOptions NothingRequired(JsonSerializerOptions options) =>
        Lenient.GetValue(options, static o =>
        {
            var copy = new JsonSerializerOptions(o)
            {
                TypeInfoResolver = (o.TypeInfoResolver ?? BocataJsonContext.Default).WithAddedModifier(static info =>
                {
                    foreach (var property in info.Properties) property.IsRequired = false;
                }),
            };
            copy.MakeReadOnly();
            return copy;
        });

    private static HashSet<string>? TopLevelNames(ReadOnlySpan<byte> json, JsonSerializerOptions options)
    {
        var comparer = options.PropertyNameCaseInsensitive ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;
        var names = new HashSet<string>(comparer);
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                names.Add(reader.GetString()!);
                reader.Read();
                reader.Skip();
            }
        }
        catch (JsonException)
        {
            return null;
        }
        return names;
    }

    private static string JsonName(JsonTypeInfo? info, string member)
    {
        if (member.Length == 0) return "";
        foreach (var property in info?.Properties ?? [])
            if (property.AttributeProvider is System.Reflection.MemberInfo m && m.Name == member) return property.Name;
        return JsonNamingPolicy.CamelCase.ConvertName(member);
    }

    /// <summary>What a body that does not fit <paramref name="type"/> got wrong, and where: <c>$.title: expected a string.</c>
    /// (System.Text.Json gives the path; the expected kind comes from the type's JSON contract along that path).</summary>
    public static string Mismatch(Type type, string? path, JsonSerializerOptions options)
    {
        var expected = Describe(TypeAt(type, path, options), options);
        return path is null or "$" ? $"expected {expected}." : $"{path}: expected {expected}.";
    }

    public static string Expected(Type type, JsonSerializerOptions options) => Describe(type, options);

    private static Type? TypeAt(Type type, string? path, JsonSerializerOptions options)
    {
        if (path is null) return type;
        Type? current = type;
        // $.items[0].name, $['odd key'] — walk property names and array indexes.
        foreach (System.Text.RegularExpressions.Match step in System.Text.RegularExpressions.Regex.Matches(path, @"\.([^.\[]+)|\['((?:[^']|'')*)'\]|\[(\d+)\]"))
        {
            if (current is null) return null;
            var info = options.GetTypeInfo(current);
            if (step.Groups[3].Success)
            {
                current = info.ElementType;
                continue;
            }
            var name = step.Groups[1].Success ? step.Groups[1].Value : step.Groups[2].Value.Replace("''", "'", StringComparison.Ordinal);
            current = info.Kind switch
            {
                JsonTypeInfoKind.Object => info.Properties.FirstOrDefault(p => string.Equals(p.Name, name, options.PropertyNameCaseInsensitive ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal))?.PropertyType,
                JsonTypeInfoKind.Dictionary => info.ElementType,
                _ => null,
            };
        }
        return current;
    }

    private static string Describe(Type? type, JsonSerializerOptions options)
    {
        if (type is null) return "a different value";
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(string) || type == typeof(char) || type == typeof(Guid) || type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(DateOnly) || type == typeof(TimeOnly) || type == typeof(Uri))
            return type == typeof(string) || type == typeof(char) ? "a string" : $"a string holding a {type.Name}";
        if (type == typeof(bool)) return "true or false";
        if (type.IsEnum) return $"one of {string.Join(", ", Enum.GetNames(type).Take(8))}";
        if (type.IsPrimitive || type == typeof(decimal))
            return type == typeof(int) || type == typeof(long) || type == typeof(short) || type == typeof(byte) || type == typeof(uint) || type == typeof(ulong) ? "an integer" : "a number";
        if (type != typeof(JsonElement) && typeof(System.Collections.IEnumerable).IsAssignableFrom(type) && !IsDictionary(type, options)) return "an array";
        return "an object";
    }

    private static bool IsDictionary(Type type, JsonSerializerOptions options) =>
        typeof(System.Collections.IDictionary).IsAssignableFrom(type)
        || options.TryGetTypeInfo(type, out var info) && info.Kind == JsonTypeInfoKind.Dictionary;
}
