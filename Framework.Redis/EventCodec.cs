using System.Text.Json;
using System.Text.Json.Serialization;

namespace Bocata.Redis;

/// <summary>How an event travels through Redis: its fields as compact JSON (the id only when the publisher gave one; the
/// hub's topic only when it is not the default one).</summary>
internal static class EventCodec
{
    public static string Encode(ServerEvent evt, string topic = "") =>
        JsonSerializer.Serialize(new Fields(evt.Name, evt.Data, evt.Id, evt.Retry, evt.Comment, topic.Length == 0 ? null : topic), CodecContext.Default.Fields);

    public static ServerEvent Decode(string payload) => DecodeWithTopic(payload).Event;

    public static (ServerEvent Event, string Topic) DecodeWithTopic(ReadOnlySpan<char> payload)
    {
        var f = JsonSerializer.Deserialize(payload, CodecContext.Default.Fields)
            ?? throw new InvalidDataException("An event in Redis is not a JSON object.");
        return (new ServerEvent(name: f.N, data: f.D, id: f.I, retry: f.R, comment: f.C), f.T ?? "");
    }

    internal sealed record Fields(
        [property: JsonPropertyName("n")] string? N,
        [property: JsonPropertyName("d")] string? D,
        [property: JsonPropertyName("i")] string? I,
        [property: JsonPropertyName("r")] int? R,
        [property: JsonPropertyName("c")] string? C,
        [property: JsonPropertyName("t")] string? T = null);
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(EventCodec.Fields))]
internal sealed partial class CodecContext : JsonSerializerContext;
