using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Text.Json;
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

    /// <summary>Validates <paramref name="value"/>'s DataAnnotations; throws <see cref="HttpError"/> 400 with per-member detail.</summary>
    public static void Validate(object value)
    {
        var type = value.GetType();
        if (!HasAnnotations.GetOrAdd(type, static t => t.GetProperties().Any(p => p.IsDefined(typeof(ValidationAttribute), inherit: true))
            || typeof(IValidatableObject).IsAssignableFrom(t))) return;
        var results = new List<ValidationResult>();
        if (Validator.TryValidateObject(value, new ValidationContext(value), results, validateAllProperties: true)) return;
        var info = BocataJson.Options.GetTypeInfo(type);
        var detail = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var result in results)
        {
            var message = result.ErrorMessage ?? "Is not valid.";
            var members = result.MemberNames.Any() ? result.MemberNames : [""];
            foreach (var member in members) detail.TryAdd(JsonName(info, member), message);
        }
        throw new HttpError(400, detail);
    }

    /// <summary>When deserialization failed because <c>required</c> members were absent: a 400 naming each, else null.</summary>
    public static HttpError? MissingRequired(Type type, ReadOnlySpan<byte> json)
    {
        if (BocataJson.Options.GetTypeInfo(type) is not { Kind: JsonTypeInfoKind.Object } info) return null;
        var required = info.Properties.Where(p => p.IsRequired).Select(p => p.Name).ToList();
        if (required.Count == 0) return null;
        var present = TopLevelNames(json);
        if (present is null) return null;
        var missing = required.Where(name => !present.Contains(name)).ToDictionary(name => name, _ => "This field is required.", StringComparer.Ordinal);
        return missing.Count == 0 ? null : new HttpError(400, missing);
    }

    private static HashSet<string>? TopLevelNames(ReadOnlySpan<byte> json)
    {
        var comparer = BocataJson.Options.PropertyNameCaseInsensitive ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;
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

    private static string JsonName(JsonTypeInfo info, string member)
    {
        if (member.Length == 0) return "";
        foreach (var property in info.Properties)
            if (property.AttributeProvider is System.Reflection.MemberInfo m && m.Name == member) return property.Name;
        return JsonNamingPolicy.CamelCase.ConvertName(member);
    }
}
