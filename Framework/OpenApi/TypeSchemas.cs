using System.Text.Json;
using Bocata.Binding;

namespace Bocata;

/// <summary>The JSON Schema of a .NET type in the OpenAPI document: what the source generator registered for it, or, for the
/// types a URL or a simple body carries, a fixed mapping (no reflection, so Native AOT writes the same document).</summary>
internal static class TypeSchemas
{
    /// <summary>Writes the schema of <paramref name="type"/> (a <c>$ref</c> for a named one); a route or query
    /// <paramref name="parameter"/> is text, so an enum there is its names whatever its JSON form.</summary>
    public static void Write(Utf8JsonWriter writer, Type type, bool parameter = false)
    {
        if (!(parameter && (Nullable.GetUnderlyingType(type) ?? type).IsEnum) && GeneratedOpenApi.Find(type) is { } found)
        {
            if (found.Name is { } name) Ref(writer, name);
            else writer.WriteRawValue(found.Schema);
            return;
        }
        if (Nullable.GetUnderlyingType(type) is { } underlying)
        {
            WriteSimple(writer, underlying, nullable: true);
            return;
        }
        WriteSimple(writer, type, nullable: false);
    }

    /// <summary>Writes <c>{"$ref": "#/components/schemas/<paramref name="name"/>"}</c>.</summary>
    public static void Ref(Utf8JsonWriter writer, string name)
    {
        writer.WriteStartObject();
        writer.WriteString("$ref", "#/components/schemas/" + name);
        writer.WriteEndObject();
    }

    private static void WriteSimple(Utf8JsonWriter writer, Type type, bool nullable)
    {
        var (json, format) = Simple(type);
        writer.WriteStartObject();
        if (json is null)
        {
            // A type the generator did not describe (the generator is off, or the type was only seen at run time): any JSON value.
            writer.WriteEndObject();
            return;
        }
        if (nullable)
        {
            writer.WriteStartArray("type");
            writer.WriteStringValue(json);
            writer.WriteStringValue("null");
            writer.WriteEndArray();
        }
        else writer.WriteString("type", json);
        if (format is not null) writer.WriteString("format", format);
        if (type.IsEnum)
        {
            // Bocata binds an enum from its name (case-insensitive) in a URL, and res.Json writes names: strings, not numbers.
            writer.WriteStartArray("enum");
            foreach (var name in Enum.GetNames(type)) writer.WriteStringValue(name);
            writer.WriteEndArray();
        }
        writer.WriteEndObject();
    }

    /// <summary>The JSON type and format of a type Bocata converts from text (route and query parameters), or (null, null).</summary>
    private static (string? Type, string? Format) Simple(Type type)
    {
        if (type == typeof(string)) return ("string", null);
        if (type == typeof(int)) return ("integer", "int32");
        if (type == typeof(long)) return ("integer", "int64");
        if (type == typeof(short) || type == typeof(byte) || type == typeof(sbyte) || type == typeof(ushort)) return ("integer", "int32");
        if (type == typeof(uint)) return ("integer", "int64");
        if (type == typeof(ulong)) return ("integer", null);
        if (type == typeof(double)) return ("number", "double");
        if (type == typeof(float)) return ("number", "float");
        if (type == typeof(decimal)) return ("number", "decimal");
        if (type == typeof(bool)) return ("boolean", null);
        if (type == typeof(Guid)) return ("string", "uuid");
        if (type == typeof(DateTime) || type == typeof(DateTimeOffset)) return ("string", "date-time");
        if (type == typeof(DateOnly)) return ("string", "date");
        if (type == typeof(TimeOnly)) return ("string", "time");
        if (type == typeof(TimeSpan)) return ("string", "duration");
        if (type == typeof(Uri)) return ("string", "uri");
        if (type == typeof(char)) return ("string", null);
        if (type.IsEnum) return ("string", null);
        return (null, null);
    }
}
