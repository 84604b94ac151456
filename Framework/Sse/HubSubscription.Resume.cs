namespace Bocata;

/// <summary>A hub subscription's resume on a backplane that listens by topic: the plan decided once the backplane answered
/// (history, where the stream starts, the `resync` notice), the hole check, and the start of a stream whose headers could not
/// wait for its topics.</summary>
internal sealed partial class HubSubscription
{
    /// <summary>How a resume on a backplane that listens by topic goes on, once the backplane answered: <see cref="Frames"/> (the
    /// topics' retained events after the resumed position, from the backplane, in number order) first, then the rings' frames
    /// numbered after <see cref="StartsAfter"/> (for an id that is not one of the hub's: the backplane's last number when it was
    /// checked, so the stream goes on live); a <see cref="Resync"/> reason when it cannot be exact.</summary>
    internal readonly record struct ResumePlan(HubFrame[] Frames, long StartsAfter, string? Resync = null);

    /// <summary>Where a resume goes on, decided by <paramref name="plan"/>. Under the hub's lock, at registration.</summary>
    internal void InitializeResume(Task<ResumePlan> plan, string lastEventId)
    {
        _resumePlan = plan;
        _lastEventId = lastEventId;
    }

    /// <summary>The stream starts with `event: resync` for <paramref name="lastEventId"/>: its resume cannot be exact. Under the
    /// hub's lock, at registration.</summary>
    internal void Resync(string lastEventId, string reason) => _resync = ResyncNotice(lastEventId, reason);

    private void SetResume(ResumePlan plan)
    {
        _resumePlan = null;
        _history = plan.Frames;
        _historyIndex = 0;
        Volatile.Write(ref _startsAfter, plan.StartsAfter);
        if (plan.Resync is { } reason) _resync = ResyncNotice(_lastEventId ?? "", reason);
    }

    /// <summary>`event: resync` with the id asked for and why, and no id: the first thing a stream that cannot resume exactly sends.</summary>
    internal static HubFrame ResyncNotice(string lastEventId, string reason)
    {
        var json = new System.Buffers.ArrayBufferWriter<byte>(128);
        using (var writer = new System.Text.Json.Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            writer.WriteString("lastEventId", lastEventId);
            writer.WriteString("reason", reason);
            writer.WriteEndObject();
        }
        var notice = new ServerEvent(name: "resync", data: System.Text.Encoding.UTF8.GetString(json.WrittenSpan));
        var bytes = new System.Buffers.ArrayBufferWriter<byte>(256);
        notice.WriteTo(bytes);
        return new HubFrame(0, notice, bytes.WrittenSpan.ToArray(), OwnId: true);
    }

    /// <summary>Whether this stream reads its topic across a hole found after <paramref name="previous"/> (it started
    /// before it): it must end, so its client resumes and is told.</summary>
    internal bool ReadsAcross(long previous) => !_startsWhenReady && Volatile.Read(ref _startsAfter) < previous;

    /// <summary>The headers go out before the topics are listened to: the stream starts after the backplane's last number read
    /// now, before them, so whatever is published once the client has the headers reaches it (not after where listening took
    /// effect, which would skip those). Backplane unreachable from here: after the highest number this instance knows the
    /// backplane gave — every later publish is numbered above it, and the topic's catch-up, once it listens again, reads from
    /// before it (a few events from before the headers may come too; none after them is lost).</summary>
    private async Task StartAtStoreHeadAsync(CancellationToken cancellationToken)
    {
        var head = await _hub.TryReadStoreHeadAsync(cancellationToken) ?? _hub.KnownHead;
        if (!_startsWhenReady) return;
        _startsWhenReady = false;
        Volatile.Write(ref _startsAfter, head);
    }

    private async ValueTask<bool> ReadResumeThenMoveNextAsync()
    {
        SetResume(await _resumePlan!.WaitAsync(_readerToken));
        return await MoveNextAsync();
    }

    /// <summary>A stream on topics a backplane is only starting to listen to sends its headers once it listens (one Redis round
    /// trip), so whatever is published after the client saw the headers reaches it. Waits at most 5 s (Redis unreachable: the
    /// stream opens and waits, with pings).</summary>
    internal static TimeSpan ReadyWait { get; set; } = TimeSpan.FromSeconds(5);

    private async Task WaitReadyAsync(CancellationToken cancellationToken)
    {
        var deadline = Environment.TickCount64 + (long)ReadyWait.TotalMilliseconds;
        while (!AllReady() && !_hub.IsCompleted && !IsDisposed)
        {
            _signal.Reset();
            if (AllReady()) return;
            var left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                await StartAtStoreHeadAsync(cancellationToken);
                return;
            }
            try
            {
                await _signal.WaitAsync().AsTask().WaitAsync(TimeSpan.FromMilliseconds(left), cancellationToken);
            }
            catch (TimeoutException)
            {
                await StartAtStoreHeadAsync(cancellationToken);
                return;
            }
        }
    }
}
