using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Bocata.Sqlite;

/// <summary>Retention, on the writer thread: a topic past <c>maxEventsPerTopic</c> loses its oldest events in the same
/// transaction as the publish that passed it; events older than the retention and expired idempotency keys go in small steps
/// (at most <see cref="TrimPage"/> rows each) between batches, so a publish never waits for more than one step. Whatever is
/// trimmed raises its topic's low-water mark in the same transaction: a resume from before it says <c>resync</c>.</summary>
public sealed partial class SqliteBackplane
{
    /// <summary>At most this many rows go in one step of age retention or key expiry.</summary>
    internal const int TrimPage = 512;

    private long _nextMaintenance = Environment.TickCount64;

    /// <summary>How often age retention and key expiry look for work: an eighth of the retention (between 50 ms and 5 s), else a minute.</summary>
    private long MaintenanceIntervalMs => _retention is { } r ? Math.Clamp((long)(r.TotalMilliseconds / 8), 50, 5000) : 60_000;

    /// <summary>How long the writer may wait for a publish before retention is due.</summary>
    private int MaintenanceWaitMs() => (int)Math.Clamp(_nextMaintenance - Environment.TickCount64, 0, int.MaxValue);

    /// <summary>One step of age retention and key expiry, when due; due again at once while a step finds a full page.</summary>
    private void Maintain()
    {
        var now = Environment.TickCount64;
        if (now < _nextMaintenance) return;
        var more = false;
        List<(string Topic, long Through, long Count)>? trimmed = null;
        try
        {
            var wall = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            using var tx = _writer.BeginTransaction();
            if (_retention is { } retention) (trimmed, more) = TrimAge(tx, wall - (long)retention.TotalMilliseconds);
            more |= Run(tx, "DELETE FROM once WHERE key IN (SELECT key FROM once WHERE at < $before ORDER BY at LIMIT $page)",
                ("$before", wall - (long)IdempotencyWindow.TotalMilliseconds), ("$page", TrimPage)) == TrimPage;
            tx.Commit();
        }
        catch (Exception e) when (e is SqliteException or IOException or InvalidOperationException)
        {
            Log.LogWarning(e, "SQLite backplane {Path}: a retention step failed; retried later", _path);
            trimmed = null;
            more = false;
        }
        foreach (var (topic, _, count) in trimmed ?? [])
            if (_topics.TryGetValue(topic, out var state)) state.Count = Math.Max(0, state.Count - count);
        _nextMaintenance = now + (more ? 0 : MaintenanceIntervalMs);
    }

    /// <summary>Removes the oldest events written before <paramref name="before"/> (Unix ms), at most a page, and raises their topics'
    /// low-water marks. Events are read in number order and the step stops at the first one still young: a clock set back
    /// never makes it remove a newer event before an older one.</summary>
    private (List<(string Topic, long Through, long Count)> Trimmed, bool More) TrimAge(SqliteTransaction tx, long before)
    {
        var topics = new Dictionary<string, (long Through, long Count)>(StringComparer.Ordinal);
        var through = 0L;
        var rows = 0;
        var stopped = false;
        using (var read = _writer.CreateCommand())
        {
            read.Transaction = tx;
            read.CommandText = "SELECT seq, topic, at FROM events ORDER BY seq LIMIT $page";
            read.Parameters.AddWithValue("$page", TrimPage);
            using var reader = read.ExecuteReader();
            while (reader.Read())
            {
                rows++;
                if (reader.GetInt64(2) >= before)
                {
                    stopped = true;
                    break;
                }
                through = reader.GetInt64(0);
                var topic = reader.GetString(1);
                topics[topic] = (through, topics.TryGetValue(topic, out var t) ? t.Count + 1 : 1);
            }
        }
        if (topics.Count == 0) return ([], false);
        Run(tx, "DELETE FROM events WHERE seq <= $through", ("$through", through));
        foreach (var (topic, (last, _)) in topics) RaiseLowWater(tx, topic, last);
        return ([.. topics.Select(t => (t.Key, t.Value.Through, t.Value.Count))], !stopped && rows == TrimPage);
    }

    /// <summary>The topic holds more than <c>maxEventsPerTopic</c>: its oldest go, in the publish's transaction.</summary>
    private void TrimCount(SqliteTransaction tx, string topic, TopicState state)
    {
        var excess = state.Count - _maxEventsPerTopic;
        long through;
        using (var find = _writer.CreateCommand())
        {
            find.Transaction = tx;
            find.CommandText = "SELECT seq FROM events WHERE topic = $topic ORDER BY seq LIMIT 1 OFFSET $skip";
            find.Parameters.AddWithValue("$topic", topic);
            find.Parameters.AddWithValue("$skip", excess - 1);
            if (find.ExecuteScalar() is not long found) return;
            through = found;
        }
        Run(tx, "DELETE FROM events WHERE topic = $topic AND seq <= $through", ("$topic", topic), ("$through", through));
        RaiseLowWater(tx, topic, through);
        state.Count = _maxEventsPerTopic;
    }

    private void RaiseLowWater(SqliteTransaction tx, string topic, long through) =>
        Run(tx, "UPDATE topics SET low_water = max(low_water, $through) WHERE topic = $topic", ("$topic", topic), ("$through", through));
}
