namespace Bocata;

public sealed partial class EventHub
{
    /// <summary>Why publishes cannot be confirmed now (the backplane's connection is down), or null when they can. The in-memory hub always can.</summary>
    internal string? Unavailable => _backplane?.Unavailable;
}
