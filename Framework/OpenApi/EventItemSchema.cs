using System.Text.Json;

namespace Bocata;

/// <summary>The OpenAPI 3.2 <c>itemSchema</c> of a <c>text/event-stream</c> response: each item is one event, an object with the
/// SSE fields <c>data</c>, <c>event</c>, <c>id</c> and <c>retry</c> (OpenAPI 3.2, "Special Considerations for Sequential Media
/// Types"). With <c>.Events&lt;T&gt;(name)</c>, <c>event</c> is one of the names and <c>data</c> a string holding JSON of one of
/// the types (<c>contentMediaType</c> + <c>contentSchema</c>, as the specification's own example does).</summary>
internal static class EventItemSchema
{
    /// <summary>The SSE event type of an event without an <c>event:</c> field (WHATWG HTML, "dispatch the event").</summary>
    private const string DefaultEventName = "message";

    public static void Write(Utf8JsonWriter writer, List<(string? Name, Type Type)> events)
    {
        writer.WriteStartObject();
        writer.WriteString("type", "object");
        writer.WriteStartObject("properties");

        writer.WriteStartObject("data");
        writer.WriteString("type", "string");
        if (events.Count > 0)
        {
            writer.WriteString("contentMediaType", "application/json");
            writer.WritePropertyName("contentSchema");
            var types = events.Select(e => e.Type).Distinct().ToList();
            if (types.Count == 1) TypeSchemas.Write(writer, types[0]);
            else
            {
                writer.WriteStartObject();
                writer.WriteStartArray("oneOf");
                foreach (var type in types) TypeSchemas.Write(writer, type);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }
        }
        writer.WriteEndObject();

        writer.WriteStartObject("event");
        writer.WriteString("type", "string");
        if (events.Count > 0)
        {
            writer.WriteStartArray("enum");
            foreach (var name in events.Select(e => e.Name ?? DefaultEventName).Distinct(StringComparer.Ordinal)) writer.WriteStringValue(name);
            writer.WriteEndArray();
        }
        writer.WriteEndObject();

        writer.WriteStartObject("id");
        writer.WriteString("type", "string");
        writer.WriteEndObject();

        writer.WriteStartObject("retry");
        writer.WriteString("type", "integer");
        writer.WriteNumber("minimum", 0);
        writer.WriteEndObject();

        writer.WriteEndObject();
        if (events.Count > 0)
        {
            writer.WriteStartArray("required");
            writer.WriteStringValue("data");
            writer.WriteEndArray();
        }
        writer.WriteEndObject();
    }
}
