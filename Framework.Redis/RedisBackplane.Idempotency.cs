namespace Bocata.Redis;

public sealed partial class RedisBackplane
{
    private RedisIdempotencyStore? _idempotencyStore;

    /// <summary>A store for <c>.Idempotent()</c> routes on this backplane's Redis (<c>s.IdempotencyStore =
    /// backplane.IdempotencyStore</c>): every instance of the app answers a retried request from its first response.</summary>
    public IIdempotencyStore IdempotencyStore => _idempotencyStore ??= new RedisIdempotencyStore(_redis, _prefix + "idempotency:");
}
