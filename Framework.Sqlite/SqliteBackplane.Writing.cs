using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Bocata.Sqlite;

/// <summary>Publishing: one writer thread numbers every publish and writes those waiting together in one transaction (group
/// commit), then delivers them to the hub in number order and completes them — a publish that returned is on disk. Owns the
/// writer connection, its commands, the topic cache and <c>_last</c>; nothing here runs on another thread.</summary>
public sealed partial class SqliteBackplane
{
    /// <summary>At most this many publishes share a transaction.</summary>
    internal const int MaxBatch = 1024;

    private readonly BlockingCollection<Pending> _queue = [];

    // Each topic's last number and how many events the file holds of it, loaded on first use. Cleared when a write fails
    // (it may be ahead of the file) or grows past MaxCachedTopics (reloaded as needed).
    private readonly Dictionary<string, TopicState> _topics = new(StringComparer.Ordinal);
    private const int MaxCachedTopics = 100_000;

    private SqliteCommand? _insert;
    private SqliteCommand? _findKey;
    private SqliteCommand? _insertKey;
    private SqliteCommand? _setLast;

    /// <summary>A publish waiting for the writer, then its number (or the first one's, for a key already published).</summary>
    private sealed class Pending(string topic, ServerEvent evt, string? key)
    {
        public readonly string Topic = topic;
        public readonly ServerEvent Event = evt;
        public readonly string? Key = key;
        public readonly TaskCompletionSource<long> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public long Sequence;
        public long Previous;
        public bool Duplicate;
    }

    private sealed class TopicState
    {
        public long Last;
        public long Count;
        public bool Stored;
    }

    /// <inheritdoc />
    public Task<long> PublishAsync(ServerEvent evt, CancellationToken cancellationToken = default) => PublishCoreAsync("", evt, null, cancellationToken);

    /// <inheritdoc />
    /// <remarks>The key is remembered in the file for <see cref="IdempotencyWindow"/> (10 minutes), across restarts.</remarks>
    public Task<long> PublishAsync(ServerEvent evt, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(idempotencyKey);
        return PublishCoreAsync("", evt, idempotencyKey, cancellationToken);
    }

    /// <inheritdoc />
    public Task<long> PublishAsync(string topic, ServerEvent evt, string? idempotencyKey, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topic);
        if (idempotencyKey is not null) ArgumentException.ThrowIfNullOrEmpty(idempotencyKey);
        return PublishCoreAsync(topic, evt, idempotencyKey, cancellationToken);
    }

    private Task<long> PublishCoreAsync(string topic, ServerEvent evt, string? key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(evt);
        _ = _sink ?? throw new InvalidOperationException("Give this backplane to an EventHub before publishing: new EventHub(backplane: await SqliteBackplane.OpenAsync(path)).");
        var pending = new Pending(topic, evt, key);
        try
        {
            _queue.Add(pending, CancellationToken.None);
        }
        catch (InvalidOperationException)
        {
            throw new ObjectDisposedException(nameof(SqliteBackplane), "This backplane was disposed: publish through a hub whose backplane is open.");
        }
        return cancellationToken.CanBeCanceled ? pending.Done.Task.WaitAsync(cancellationToken) : pending.Done.Task;
    }

    private void WriteLoop()
    {
        var batch = new List<Pending>(64);
        try
        {
            while (!_queue.IsCompleted)
            {
                if (_queue.TryTake(out var first, MaintenanceWaitMs()))
                {
                    batch.Add(first);
                    while (batch.Count < MaxBatch && _queue.TryTake(out var next)) batch.Add(next);
                    Write(batch);
                    batch.Clear();
                }
                // At most one small step of retention between batches: publishes never wait for more than one.
                Maintain();
            }
        }
        catch (Exception e)
        {
            Log.LogCritical(e, "SQLite backplane {Path}: the writer stopped; publishes fail until the app restarts", _path);
            var stopped = new BackplaneUnavailableException($"The writer of {_path} stopped ({e.Message}); restart the app.", e);
            foreach (var p in batch) p.Done.TrySetException(stopped);
            _queue.CompleteAdding();
            while (_queue.TryTake(out var left)) left.Done.TrySetException(stopped);
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }

    /// <summary>Numbers and writes <paramref name="batch"/> in one transaction, then delivers it in order and completes it.</summary>
    private void Write(List<Pending> batch)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var last = _last;
        try
        {
            using var tx = _writer.BeginTransaction();
            Prepare(tx);
            Dictionary<string, long>? keys = null;
            var touched = new Dictionary<string, TopicState>(StringComparer.Ordinal);
            foreach (var p in batch)
            {
                if (p.Key is not null && ((keys?.TryGetValue(p.Key, out var first) ?? false) || FindKey(p.Key, now, out first)))
                {
                    p.Sequence = first;
                    p.Duplicate = true;
                    continue;
                }
                var state = Topic(p.Topic, tx);
                p.Sequence = ++last;
                p.Previous = state.Last;
                Insert(p, now);
                if (p.Key is not null)
                {
                    _insertKey!.Parameters["$key"].Value = p.Key;
                    _insertKey.Parameters["$seq"].Value = p.Sequence;
                    _insertKey.Parameters["$at"].Value = now;
                    _insertKey.ExecuteNonQuery();
                    (keys ??= new(StringComparer.Ordinal))[p.Key] = p.Sequence;
                }
                if (!state.Stored)
                {
                    // A topic's row (its low-water mark) is written with its first event: nothing of it before the epoch's start.
                    Run(tx, "INSERT OR IGNORE INTO topics(topic, low_water) VALUES ($topic, $low)", ("$topic", p.Topic), ("$low", _since));
                    state.Stored = true;
                }
                state.Count++;
                state.Last = p.Sequence;
                touched[p.Topic] = state;
            }
            foreach (var (topic, state) in touched)
                if (state.Count > _maxEventsPerTopic) TrimCount(tx, topic, state);
            _setLast!.Parameters["$last"].Value = last;
            _setLast.ExecuteNonQuery();
            tx.Commit();
        }
        catch (Exception e) when (e is SqliteException or IOException or InvalidOperationException)
        {
            // Rolled back: nothing of the batch is in the file. The cache may be ahead of it: reloaded as needed.
            _topics.Clear();
            Log.LogError(e, "SQLite backplane {Path}: a batch of {Count} publishes could not be written", _path, batch.Count);
            var failed = new BackplaneUnavailableException($"The event could not be written to {_path} ({e.Message}): it was not published. Retry when the disk is writable again.", e);
            foreach (var p in batch) p.Done.TrySetException(failed);
            return;
        }
        Volatile.Write(ref _last, last);
        if (_topics.Count > MaxCachedTopics) _topics.Clear();
        // On disk: the hub gets them in number order, then each publish returns.
        foreach (var p in batch)
        {
            if (p.Duplicate) continue;
            try
            {
                _sink!.Deliver(p.Sequence, p.Previous, p.Topic, p.Event);
            }
            catch (Exception e)
            {
                Log.LogError(e, "SQLite backplane {Path}: the hub failed to take event {Sequence}", _path, p.Sequence);
            }
        }
        foreach (var p in batch) p.Done.TrySetResult(p.Sequence);
    }

    /// <summary>The writer's commands, prepared once and bound to this batch's transaction.</summary>
    private void Prepare(SqliteTransaction tx)
    {
        _insert ??= Command("INSERT INTO events(seq, topic, previous, at, name, data, id, retry, comment) VALUES ($seq, $topic, $previous, $at, $name, $data, $id, $retry, $comment)",
            "$seq", "$topic", "$previous", "$at", "$name", "$data", "$id", "$retry", "$comment");
        _findKey ??= Command("SELECT seq FROM once WHERE key = $key AND at >= $since", "$key", "$since");
        _insertKey ??= Command("INSERT OR REPLACE INTO once(key, seq, at) VALUES ($key, $seq, $at)", "$key", "$seq", "$at");
        _setLast ??= Command("UPDATE meta SET value = $last WHERE key = 'last'", "$last");
        _insert.Transaction = _findKey.Transaction = _insertKey.Transaction = _setLast.Transaction = tx;
    }

    private SqliteCommand Command(string sql, params string[] parameters)
    {
        var command = _writer.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameters) command.Parameters.Add(new SqliteParameter(name, null));
        return command;
    }

    private void DisposeCommands()
    {
        _insert?.Dispose();
        _findKey?.Dispose();
        _insertKey?.Dispose();
        _setLast?.Dispose();
    }

    private void Insert(Pending p, long now)
    {
        var values = _insert!.Parameters;
        values["$seq"].Value = p.Sequence;
        values["$topic"].Value = p.Topic;
        values["$previous"].Value = p.Previous;
        values["$at"].Value = now;
        values["$name"].Value = (object?)p.Event.Name ?? DBNull.Value;
        values["$data"].Value = (object?)p.Event.Data ?? DBNull.Value;
        values["$id"].Value = (object?)p.Event.Id ?? DBNull.Value;
        values["$retry"].Value = p.Event.Retry is { } retry ? retry : DBNull.Value;
        values["$comment"].Value = (object?)p.Event.Comment ?? DBNull.Value;
        _insert.ExecuteNonQuery();
    }

    /// <summary>Whether <paramref name="key"/> was published within the idempotency window, and the number it was given.</summary>
    private bool FindKey(string key, long now, out long sequence)
    {
        _findKey!.Parameters["$key"].Value = key;
        _findKey.Parameters["$since"].Value = now - (long)IdempotencyWindow.TotalMilliseconds;
        var found = _findKey.ExecuteScalar();
        sequence = found is long s ? s : 0;
        return found is long;
    }

    /// <summary>A topic's last number and count, from the cache or the file: its newest event, else (all trimmed) its low-water
    /// mark, else (a topic that never had an event in this epoch) the epoch's start.</summary>
    private TopicState Topic(string topic, SqliteTransaction tx)
    {
        if (_topics.TryGetValue(topic, out var state)) return state;
        state = new TopicState { Last = _since };
        using (var read = _writer.CreateCommand())
        {
            read.Transaction = tx;
            read.CommandText = "SELECT max(seq), count(*), (SELECT low_water FROM topics WHERE topic = $topic) FROM events WHERE topic = $topic";
            read.Parameters.AddWithValue("$topic", topic);
            using var row = read.ExecuteReader();
            row.Read();
            state.Count = row.GetInt64(1);
            state.Stored = !row.IsDBNull(2);
            if (!row.IsDBNull(0)) state.Last = row.GetInt64(0);
            else if (state.Stored) state.Last = Math.Max(_since, row.GetInt64(2));
        }
        _topics[topic] = state;
        return state;
    }

    private int Run(SqliteTransaction tx, string sql, params (string Name, object Value)[] values)
    {
        using var command = _writer.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        foreach (var (name, value) in values) command.Parameters.AddWithValue(name, value);
        return command.ExecuteNonQuery();
    }
}
