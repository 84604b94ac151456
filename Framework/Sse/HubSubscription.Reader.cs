namespace Bocata;

/// <summary>A hub subscription enumerated directly (<c>await foreach</c>): one reader, waiting on the subscription's signal.</summary>
internal sealed partial class HubSubscription
{
    public IAsyncEnumerator<ServerEvent> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (_enumerated || _writer is not null) throw new InvalidOperationException("A hub subscription can be read once; call hub.Subscribe again for another reader.");
        _enumerated = true;
        _readerToken = cancellationToken;
        if (cancellationToken.CanBeCanceled)
            _readerWatch = cancellationToken.UnsafeRegister(static s => ((StreamSignal)s!).Set(), _signal);
        return this;
    }

    public ValueTask<bool> MoveNextAsync()
    {
        if (_authorize is not null) return AuthorizeThenMoveNextAsync();
        if (_historyRead is not null && _history is null) return ReadHistoryThenMoveNextAsync();
        if (_resumePlan is not null) return ReadResumeThenMoveNextAsync();
        return TryMoveNext(out var moved) ? new ValueTask<bool>(moved) : WaitThenMoveNextAsync();
    }

    /// <summary>Takes the next frame, or the end, without waiting (true, with <paramref name="moved"/> saying which); false
    /// with the signal armed when the reader must wait.</summary>
    private bool TryMoveNext(out bool moved)
    {
        while (true)
        {
            _readerToken.ThrowIfCancellationRequested();
            var next = TryNext(out var frame);
            if (next == Next.Frame)
            {
                Current = frame!.Event;
                return moved = true;
            }
            if (next == Next.End)
            {
                moved = false;
                return true;
            }
            _signal.Reset();
            // Armed: look once more, so a publish between the first look and the reset is not missed. Found something: take
            // the arming back, or, if a publisher's wake-up already won it, wait for that wake-up (it completes at once) —
            // never leave the signal armed and reset it again while that wake-up is still completing.
            if ((HasPending() || _readerToken.IsCancellationRequested) && _signal.TryDisarm()) continue;
            moved = false;
            return false;
        }
    }

    private async ValueTask<bool> AuthorizeThenMoveNextAsync()
    {
        await AuthorizeThenRegisterAsync();
        return await MoveNextAsync();
    }

    private async ValueTask<bool> ReadHistoryThenMoveNextAsync()
    {
        SetHistory(await _historyRead!.WaitAsync(_readerToken));
        return await MoveNextAsync();
    }

    /// <summary>A direct reader is waiting for its next event (tests).</summary>
    internal bool ReaderWaiting => _signal.IsArmed;

    /// <summary>Waits, in one loop: a wake-up with nothing to read (a topic becoming ready, a hold released) waits again here
    /// instead of nesting another wait inside this one.</summary>
    private async ValueTask<bool> WaitThenMoveNextAsync()
    {
        bool moved;
        do
        {
            await _signal.WaitAsync();
        }
        while (!TryMoveNext(out moved));
        return moved;
    }

    public ValueTask DisposeAsync()
    {
        _readerWatch.Dispose();
        Dispose();
        return ValueTask.CompletedTask;
    }
}
