namespace Bocata;

/// <summary>A conditional publish (<c>hub.PublishAsync(topic, evt, expectedLastId)</c>) found that another event was published to
/// the topic since the caller read it: nothing was published. Read the topic's state again (and <see cref="ActualLastId"/>, or
/// <c>hub.LastIdAsync(topic)</c>), decide again, and publish with the new id.</summary>
public sealed class PublishConflictException(string topic, long expectedLastId, long actualLastId)
    : InvalidOperationException($"Topic '{topic}' moved on: its last event is {actualLastId}, not {expectedLastId} as expected, so nothing was published. Read its state again and retry with expectedLastId: {actualLastId}.")
{
    /// <summary>The topic published to.</summary>
    public string Topic { get; } = topic;

    /// <summary>The last id the caller expected.</summary>
    public long ExpectedLastId { get; } = expectedLastId;

    /// <summary>The topic's last id when the publish was refused (0: none retained).</summary>
    public long ActualLastId { get; } = actualLastId;
}
