using Microsoft.Data.Sqlite;

namespace Bocata.Sqlite;

/// <summary>History, for resumes older than what the hub holds in memory (after a restart, everything): read from the file on
/// pooled read connections beside the writer (WAL: readers never wait for it, it never waits for them). Each event comes with
/// its topic's previous number, so a range trimmed away shows as the hole it is.</summary>
public sealed partial class SqliteBackplane
{
    private const string Columns = "seq, previous, name, data, id, retry, comment";

    /// <inheritdoc />
    /// <remarks>The default topic's events numbered <paramref name="from"/> to <paramref name="to"/>.</remarks>
    public Task<IReadOnlyList<BackplaneEvent>> ReadAsync(long from, long to, CancellationToken cancellationToken = default) =>
        ReadEventsAsync("", $"SELECT {Columns} FROM events WHERE topic = '' AND seq BETWEEN $from AND $to ORDER BY seq",
            [("$from", from), ("$to", to)], newestFirst: false, cancellationToken);

    /// <inheritdoc />
    public Task<IReadOnlyList<BackplaneEvent>> ReadTopicAsync(string topic, long to, int count, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topic);
        return ReadEventsAsync(topic, $"SELECT {Columns} FROM events WHERE topic = $topic AND seq <= $to ORDER BY seq DESC LIMIT $count",
            [("$topic", topic), ("$to", to), ("$count", count)], newestFirst: true, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>The newest number of the topic that retention removed; at least the epoch's start (nothing from before the file
    /// began can be vouched for).</remarks>
    public Task<long> ReadTopicLowWaterAsync(string topic, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(topic);
        return Task.Run(() =>
        {
            using var connection = OpenReader();
            using var read = connection.CreateCommand();
            read.CommandText = "SELECT low_water FROM topics WHERE topic = $topic";
            read.Parameters.AddWithValue("$topic", topic);
            return read.ExecuteScalar() is long low ? Math.Max(low, _since) : _since;
        }, cancellationToken);
    }

    private Task<IReadOnlyList<BackplaneEvent>> ReadEventsAsync(string topic, string sql, (string, object)[] values, bool newestFirst, CancellationToken cancellationToken) =>
        Task.Run<IReadOnlyList<BackplaneEvent>>(() =>
        {
            using var connection = OpenReader();
            using var read = connection.CreateCommand();
            read.CommandText = sql;
            foreach (var (name, value) in values) read.Parameters.AddWithValue(name, value);
            var events = new List<BackplaneEvent>();
            using (var reader = read.ExecuteReader())
            {
                while (reader.Read())
                {
                    var evt = new ServerEvent(name: Text(reader, 2), data: Text(reader, 3), id: Text(reader, 4),
                        retry: reader.IsDBNull(5) ? null : reader.GetInt32(5), comment: Text(reader, 6));
                    events.Add(new BackplaneEvent(reader.GetInt64(0), evt) { Topic = topic, Previous = reader.GetInt64(1) });
                }
            }
            if (newestFirst) events.Reverse();
            return events;
        }, cancellationToken);

    private static string? Text(SqliteDataReader reader, int column) => reader.IsDBNull(column) ? null : reader.GetString(column);

    private SqliteConnection OpenReader()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var connection = new SqliteConnection(_readConnection);
        connection.Open();
        return connection;
    }
}
