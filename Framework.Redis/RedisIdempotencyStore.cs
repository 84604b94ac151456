using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using StackExchange.Redis;

namespace Bocata.Redis;

/// <summary>Keeps the responses of <c>.Idempotent()</c> routes in Redis, so a retry that reaches another instance (the first one
/// died after applying the request) is answered from the first response instead of applying it again. Set it with
/// <c>s.IdempotencyStore = backplane.IdempotencyStore</c>, or build one on any multiplexer.</summary>
public sealed class RedisIdempotencyStore : IIdempotencyStore
{
    // Reserve atomically: the first caller sets its reservation, every other gets what the key holds.
    private const string ReserveScript = """
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
        return redis.call('GET', KEYS[1])
        """;

    // Only the reservation this caller made is released or replaced (a lease that ran out may belong to another caller now).
    private const string ReleaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """;

    private readonly IConnectionMultiplexer _redis;
    private readonly string _prefix;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _reservations = new(StringComparer.Ordinal);

    /// <summary>A store on <paramref name="redis"/> whose keys begin with <paramref name="keyPrefix"/>.</summary>
    public RedisIdempotencyStore(IConnectionMultiplexer redis, string keyPrefix = "bocata:idempotency:")
    {
        _redis = redis ?? throw new ArgumentNullException(nameof(redis));
        _prefix = keyPrefix ?? throw new ArgumentNullException(nameof(keyPrefix));
    }

    /// <inheritdoc/>
    public async ValueTask<IdempotentEntry?> TryReserveAsync(string key, string fingerprint, TimeSpan lease, CancellationToken cancellationToken = default)
    {
        var reservation = "R|" + Guid.NewGuid().ToString("N") + "|" + fingerprint;
        var held = await _redis.GetDatabase().ScriptEvaluateAsync(ReserveScript, [Key(key)], [reservation, (long)lease.TotalMilliseconds]).ConfigureAwait(false);
        if (held.IsNull)
        {
            _reservations[key] = reservation;
            return null;
        }
        return Decode((string)held!);
    }

    /// <inheritdoc/>
    public async ValueTask CompleteAsync(string key, IdempotentEntry entry, TimeSpan window, CancellationToken cancellationToken = default)
    {
        _reservations.TryRemove(key, out _);
        await _redis.GetDatabase().StringSetAsync(Key(key), Encode(entry), window).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask ReleaseAsync(string key, CancellationToken cancellationToken = default)
    {
        if (_reservations.TryRemove(key, out var reservation))
            await _redis.GetDatabase().ScriptEvaluateAsync(ReleaseScript, [Key(key)], [reservation]).ConfigureAwait(false);
    }

    /// <summary>Keys are digests: a client's key (and the user it belongs to) never shapes a Redis key.</summary>
    private RedisKey Key(string key) => _prefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private static string Encode(IdempotentEntry entry)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("f", entry.Fingerprint);
            json.WriteNumber("s", entry.Status);
            json.WriteStartArray("h");
            foreach (var (name, value) in entry.Headers)
            {
                json.WriteStartArray();
                json.WriteStringValue(name);
                json.WriteStringValue(value);
                json.WriteEndArray();
            }
            json.WriteEndArray();
            json.WriteBase64String("b", entry.Body);
            json.WriteEndObject();
        }
        return "C|" + Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static IdempotentEntry Decode(string held)
    {
        if (held.StartsWith("R|", StringComparison.Ordinal))
        {
            var fingerprint = held[(held.IndexOf('|', 2) + 1)..];
            return new IdempotentEntry { Fingerprint = fingerprint };
        }
        using var document = JsonDocument.Parse(held.AsMemory(2));
        var root = document.RootElement;
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var pair in root.GetProperty("h").EnumerateArray())
            headers.Add(new(pair[0].GetString()!, pair[1].GetString()!));
        return new IdempotentEntry
        {
            Fingerprint = root.GetProperty("f").GetString()!,
            Completed = true,
            Status = root.GetProperty("s").GetInt32(),
            Headers = headers,
            Body = root.GetProperty("b").GetBytesFromBase64(),
        };
    }
}
