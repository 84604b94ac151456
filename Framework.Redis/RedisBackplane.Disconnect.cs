using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Bocata.Redis;

/// <summary>hub.DisconnectAsync across instances: a user name published on a channel beside the hub's events (not in its
/// stream: no number is taken, no event ordering is touched); every instance, the sender included, ends that user's streams.</summary>
public sealed partial class RedisBackplane
{
    private RedisChannel DisconnectChannel => Sharded ? RedisChannel.Sharded(_prefix + "disconnect") : RedisChannel.Literal(_prefix + "disconnect");

    private RedisChannel? _disconnectChannel;

    /// <inheritdoc />
    public async Task DisconnectAsync(string user, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(user);
        try
        {
            await _redis.GetSubscriber().PublishAsync(DisconnectChannel, user).WaitAsync(PublishTimeout, cancellationToken);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            throw new BackplaneUnavailableException($"Redis did not confirm the disconnect of '{user}' for hub '{Topic}': streams on other instances may stay open.", e);
        }
    }

    /// <summary>Listens for disconnects (after <see cref="DetectCluster"/>, which chooses the channel kind). StackExchange.Redis
    /// subscribes again by itself after a reconnection.</summary>
    private void ListenForDisconnects()
    {
        if (_disconnectChannel is not null) return;
        var channel = DisconnectChannel;
        _redis.GetSubscriber().Subscribe(channel, (_, user) =>
        {
            if (user.IsNullOrEmpty) return;
            try
            {
                _sink?.Disconnect(user!);
            }
            catch (Exception e)
            {
                Log.LogError(e, "Redis backplane for topic {Topic}: ending the streams of a disconnected user failed", Topic);
            }
        });
        _disconnectChannel = channel;
    }

    private async Task StopListeningForDisconnectsAsync()
    {
        if (_disconnectChannel is { } channel) await _redis.GetSubscriber().UnsubscribeAsync(channel);
    }
}
