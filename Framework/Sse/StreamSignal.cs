using System.Threading.Tasks.Sources;

namespace Bocata;

/// <summary>
/// A reusable, allocation-free "wake up" for one waiting loop, set by whichever comes first: the awaited step or the heartbeat.
/// At most one result per <see cref="Reset"/>; later signals before the next reset are dropped (the loop rechecks its state).
/// </summary>
internal sealed class StreamSignal : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    // Starts "signaled" so the first Reset cannot race with a Set; Reset re-opens it.
    private int _signaled = 1;

    /// <summary>Arms the signal for the next <see cref="WaitAsync"/>.</summary>
    public void Reset()
    {
        _core.Reset();
        Volatile.Write(ref _signaled, 0);
    }

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
