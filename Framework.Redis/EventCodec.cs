using System.Text.Json;
using System.Text.Json.Serialization;

namespace Bocata.Redis;

/// <summary>How an event travels through Redis: its fields as compact JSON (the id only when the publisher gave one; the
/// hub's topic only when it is not the default one).</summary>
internal static class EventCodec
{
    public static string Encode(ServerEvent evt, string topic = "") =>
        JsonSerializer.Serialize(new Fields { N = evt.Name, D = evt.Data, I = evt.Id, R = evt.Retry, C = evt.Comment, T = topic.Length == 0 ? null : topic }, CodecContext.Default.Fields);

    public static ServerEvent Decode(string payload) => DecodeWithTopic(payload).Event;

    public static (ServerEvent Event, string Topic) DecodeWithTopic(ReadOnlySpan<char> payload)
    {
        var f = JsonSerializer.Deserialize(payload, CodecContext.Default.Fields)
            ?? throw new InvalidDataException("An event in Redis is not a JSON object.");
        return (new ServerEvent(name: f.N, data: f.D, id: f.I, retry: f.R, comment: f.C), f.T ?? "");
    }

    // Settable properties, not a constructor: System.Text.Json reads a type of more than four constructor parameters through
    // an argument array with each value boxed (two allocations and a slower path per event received).
    internal sealed class Fields
    {
        [JsonPropertyName("n")] public string? N { get; set; }
        [JsonPropertyName("d")] public string? D { get; set; }
        [JsonPropertyName("i")] public string? I { get; set; }
        [JsonPropertyName("r")] public int? R { get; set; }
        [JsonPropertyName("c")] public string? C { get; set; }
        [JsonPropertyName("t")] public string? T { get; set; }
    }
}

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(EventCodec.Fields))]
internal sealed partial class CodecContext : JsonSerializerContext;
