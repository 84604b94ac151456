using System.Threading.Tasks.Sources;

namespace Bocata;

/// <summary>
/// A reusable, allocation-free "wake up" for one waiting loop, set by whichever comes first: the awaited step or the heartbeat.
/// At most one result per <see cref="Reset"/>; later signals before the next reset are dropped (the loop rechecks its state).
/// </summary>
/// <remarks>
/// The loop owns the arming: after <see cref="Reset"/> it either awaits <see cref="WaitAsync"/> or takes the arming back with
/// <see cref="TryDisarm"/> before it resets again. A reset while a <see cref="Set"/> that won the arming is still completing
/// would reset the underlying source under it (a lost wake-up, or a completion run twice that crashes the process).
/// </remarks>
internal sealed class StreamSignal : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    // Starts "signaled" so the first Reset cannot race with a Set; Reset re-opens it.
    private int _signaled = 1;

    /// <summary>Arms the signal for the next <see cref="WaitAsync"/>.</summary>
    public void Reset()
    {
        _core.Reset();
        // A full fence: the loop's look after arming must not be read before the arming is visible to setters (a setter that
        // finds the signal still set drops its wake-up, trusting that look to see what it published).
        Interlocked.Exchange(ref _signaled, 0);
    }

    /// <summary>Takes back an arming the loop will not wait on (its look after arming found work): true when no
    /// <see cref="Set"/> had won it; false when one did, and the loop must await <see cref="WaitAsync"/> before resetting.</summary>
    public bool TryDisarm() => Interlocked.CompareExchange(ref _signaled, 1, 0) == 0;

    /// <summary>Wakes the waiter (once per reset): on the thread pool, or <paramref name="inline"/> on the caller's thread
    /// (for a step completing, as a plain <c>await</c> would; never from a timer or a publisher).</summary>
    public void Set(bool inline = false)
    {
        if (Interlocked.Exchange(ref _signaled, 1) != 0) return;
        _core.RunContinuationsAsynchronously = !inline;
        _core.SetResult(true);
    }

    /// <summary>Armed (reset and not yet set): the loop is, or is about to be, waiting on it.</summary>
    public bool IsArmed => Volatile.Read(ref _signaled) == 0;

    /// <summary>Refuses every later <see cref="Set"/>: used once the loop has ended.</summary>
    public void Close() => Volatile.Write(ref _signaled, 1);

    public ValueTask WaitAsync() => new(this, _core.Version);

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
