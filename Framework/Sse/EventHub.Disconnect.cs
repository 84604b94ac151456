namespace Bocata;

/// <summary>Ending a user's streams (a sign-out, a ban, a role change): an index of the request-owned subscriptions by user
/// name, so ending one user's streams touches only theirs, never a scan of every subscriber. <c>_byUser</c> is its own lock,
/// a leaf: nothing is called while it is held.</summary>
public sealed partial class EventHub
{
    // A user's one stream (the usual case: no set allocated for it), or a HashSet<HubSubscription> of their streams.
    private readonly Dictionary<string, object> _byUser = new(StringComparer.Ordinal);

    /// <summary>Ends every open stream of <paramref name="user"/> (<c>req.User.Identity.Name</c> of the request that opened it) on
    /// every instance sharing this hub's backplane, and returns how many were open on this instance. A client's EventSource
    /// reconnects by itself: revoke or refuse its credential first when it must not come back.</summary>
    public async Task<int> DisconnectAsync(string user, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(user);
        var ended = DisconnectHere(user);
        if (_backplane is { } backplane) await backplane.DisconnectAsync(user, ct);
        return ended;
    }

    /// <summary>Ends this instance's streams of <paramref name="user"/>; how many there were.</summary>
    internal int DisconnectHere(string user)
    {
        object? streams;
        lock (_byUser)
        {
            if (!_byUser.Remove(user, out streams)) return 0;
        }
        if (streams is HubSubscription one)
        {
            one.EndForUser();
            return 1;
        }
        var all = (HashSet<HubSubscription>)streams;
        foreach (var stream in all) stream.EndForUser();
        return all.Count;
    }

    /// <summary>A stream opened by a signed-in user: indexed under their name until it ends.</summary>
    internal void TrackUser(string user, HubSubscription subscription)
    {
        lock (_byUser)
        {
            if (!_byUser.TryGetValue(user, out var streams)) _byUser[user] = subscription;
            else if (streams is HashSet<HubSubscription> all) all.Add(subscription);
            else _byUser[user] = new HashSet<HubSubscription> { (HubSubscription)streams, subscription };
        }
    }

    internal void ForgetUser(string user, HubSubscription subscription)
    {
        lock (_byUser)
        {
            if (!_byUser.TryGetValue(user, out var streams)) return;
            if (streams == subscription) _byUser.Remove(user);
            else if (streams is HashSet<HubSubscription> all && all.Remove(subscription) && all.Count == 0) _byUser.Remove(user);
        }
    }
}
