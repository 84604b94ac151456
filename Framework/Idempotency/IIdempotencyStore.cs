namespace Bocata;

/// <summary>Where <c>.Idempotent()</c> routes keep the first response to each <c>Idempotency-Key</c>: in this process
/// (<see cref="MemoryIdempotencyStore"/>, the default) or shared by every instance (Bocata.Redis's
/// <c>backplane.IdempotencyStore</c>), set with <see cref="Settings.IdempotencyStore"/>.</summary>
public interface IIdempotencyStore
{
    /// <summary>Reserves <paramref name="key"/> for a request with <paramref name="fingerprint"/> for at most <paramref name="lease"/>
    /// (a process that dies mid-request frees it then). Returns null when this caller holds it now (run the handler), else what
    /// the key already holds: a request still running, or its finished response.</summary>
    ValueTask<IdempotentEntry?> TryReserveAsync(string key, string fingerprint, TimeSpan lease, CancellationToken cancellationToken = default);

    /// <summary>Stores the finished <paramref name="entry"/> under the key this caller reserved, for <paramref name="window"/>.</summary>
    ValueTask CompleteAsync(string key, IdempotentEntry entry, TimeSpan window, CancellationToken cancellationToken = default);

    /// <summary>Frees the key this caller reserved without a response (the handler failed): a retry runs again.</summary>
    ValueTask ReleaseAsync(string key, CancellationToken cancellationToken = default);
}

/// <summary>What an <see cref="IIdempotencyStore"/> holds for one key: the request's fingerprint and, once it finished, its
/// response (status, headers, body).</summary>
public sealed class IdempotentEntry
{
    /// <summary>A hash of the request's method, target and body: a retry must send the same request.</summary>
    public required string Fingerprint { get; init; }

    /// <summary>False while the first request is still running.</summary>
    public bool Completed { get; init; }

    /// <summary>The response's status.</summary>
    public int Status { get; init; }

    /// <summary>The response's headers (Content-Type included).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    /// <summary>The response's body.</summary>
    public byte[] Body { get; init; } = [];
}
