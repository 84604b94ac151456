using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bocata.Sqlite;

/// <summary>
/// Durable history for an <see cref="EventHub"/> on one machine, in a SQLite file: the hub numbers, retains and replays from
/// the file, so after a restart (or a crash) numbering continues after the last number and a client's <c>Last-Event-ID</c>
/// resumes exactly, on every topic.
/// </summary>
/// <remarks>
/// <para>Invariants (OFFSETS.md), and how this file holds them. <b>One fact per topic</b>: a topic's events in the file and its
/// low-water mark (the newest of its numbers trimmed away) say what a resume can have. <b>Holes are events</b>: each stored
/// event names its topic's previous number; trimming raises the low-water mark. <b>One number</b>: one sequence for every
/// topic, given by one writer. <b>Numbers only grow</b>: the last number given is stored apart from the events (retention may
/// remove them all) and written in the same transaction as they are; a new file begins its epoch above every number an earlier
/// file can have given (the Unix time in microseconds), and a resume from before the epoch's start says <c>resync</c>.</para>
/// <para>One process owns the file: a second <see cref="OpenAsync"/> of it (from another process, or this one) fails at once,
/// naming the file; the hub in the owning process sees every publish, so every topic is delivered to it in order.</para>
/// <para>Durability: WAL with <c>synchronous=FULL</c>, so a publish that returned is on disk, across a crash of the process or
/// of the machine. Concurrent publishes share a transaction (group commit: one writer thread takes every publish waiting when
/// it starts one).</para>
/// </remarks>
public sealed partial class SqliteBackplane : IEventBackplane
{
    private readonly string _path;
    private readonly FileStream _ownership;
    private readonly SqliteConnection _writer;
    private readonly string _readConnection;
    private readonly TimeSpan? _retention;
    private readonly int _maxEventsPerTopic;
    private readonly long _since;
    // The last number given and committed (written by the writer thread only).
    private long _last;
    private IEventBackplaneSink? _sink;
    private ILogger? _log;
    private Thread? _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;

    private SqliteBackplane(string path, FileStream ownership, SqliteConnection writer, string readConnection, long since, long last, TimeSpan? retention, int maxEventsPerTopic)
    {
        _path = path;
        _ownership = ownership;
        _writer = writer;
        _readConnection = readConnection;
        _since = since;
        _last = last;
        _retention = retention;
        _maxEventsPerTopic = maxEventsPerTopic;
    }

    /// <summary>Opens (or creates) the event file at <paramref name="path"/> for one hub: <c>new EventHub(replay: 1000, backplane: await
    /// SqliteBackplane.OpenAsync("data/events.db"))</c>. Each topic keeps its newest <paramref name="maxEventsPerTopic"/> events,
    /// and none older than <paramref name="retention"/> when one is given (default: no age limit).</summary>
    /// <exception cref="ArgumentException">The path is empty, the retention is not positive or maxEventsPerTopic is below 1.</exception>
    /// <exception cref="IOException">Another process (or another backplane of this one) has the file open.</exception>
    /// <exception cref="InvalidDataException">The file is not a readable Bocata event file (corrupt, another database, unreadable).</exception>
    public static Task<SqliteBackplane> OpenAsync(string path, TimeSpan? retention = null, int maxEventsPerTopic = 1000)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (retention is { } r && r <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(retention), r, "retention is how long events are kept: a positive time, or null to keep them without an age limit.");
        if (maxEventsPerTopic < 1)
            throw new ArgumentOutOfRangeException(nameof(maxEventsPerTopic), maxEventsPerTopic, "maxEventsPerTopic is how many events each topic keeps: 1 or more.");
        return Task.Run(() => Open(Path.GetFullPath(path), retention, maxEventsPerTopic));
    }

    private static SqliteBackplane Open(string path, TimeSpan? retention, int maxEventsPerTopic)
    {
        if (Path.GetDirectoryName(path) is { Length: > 0 } directory) Directory.CreateDirectory(directory);
        var ownership = Own(path);
        SqliteConnection? writer = null;
        try
        {
            var builder = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false, DefaultTimeout = 30 };
            writer = new SqliteConnection(builder.ToString());
            writer.Open();
            Execute(writer, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;");
            SqliteSchema.Check(writer, path);
            var (since, last) = SqliteSchema.Prepare(writer, path, UnixMicroseconds());
            builder.Mode = SqliteOpenMode.ReadWrite;
            builder.Pooling = true;
            return new SqliteBackplane(path, ownership, writer, builder.ToString(), since, last, retention, maxEventsPerTopic);
        }
        catch (Exception e)
        {
            writer?.Dispose();
            if (writer is not null) SqliteConnection.ClearPool(writer);
            ownership.Dispose();
            if (e is SqliteException sqlite) throw SqliteSchema.Unusable(path, $"SQLite error {sqlite.SqliteErrorCode}: {sqlite.Message}", e);
            if (e is UnauthorizedAccessException) throw SqliteSchema.Unusable(path, "it cannot be read or written by this process", e);
            throw;
        }
    }

    /// <summary>One process owns the file: an exclusive lock on <c>path.lock</c>, held while the backplane is open (released by
    /// the system if the process dies). The lock file is left in place: deleting it would let two processes lock two files.</summary>
    private static FileStream Own(string path)
    {
        try
        {
            return new FileStream(path + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new IOException($"The event file {path} is already open in another process (or another SqliteBackplane of this one): one " +
                "process owns an event file. Stop the other one, or give each process its own file (to share events across " +
                "processes, use Bocata.Redis).", e);
        }
    }

    internal static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static long UnixMicroseconds() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond;

    /// <summary>How long an idempotency key is remembered: a retry with the same key within it publishes nothing.</summary>
    public static TimeSpan IdempotencyWindow { get; } = TimeSpan.FromMinutes(10);

    /// <summary>Where repairs and faults are logged (category <c>Bocata.Sqlite</c>): the app's own loggers, once an app started.</summary>
    private ILogger Log
    {
        get
        {
            // Again when the app's loggers change: a line logged before the hub's own app started must not pin an earlier app's.
            var factory = _sink?.LoggerFactory;
            if (factory is null) return NullLogger.Instance;
            if (_log is { } log && ReferenceEquals(_logFactory, factory)) return log;
            _logFactory = factory;
            return _log = factory.CreateLogger("Bocata.Sqlite");
        }
    }

    private ILoggerFactory? _logFactory;

    /// <inheritdoc />
    /// <remarks>Returns the last number in the file: the hub's numbering continues after it.</remarks>
    public long Attach(IEventBackplaneSink sink)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.CompareExchange(ref _sink, sink, null) is not null)
            throw new InvalidOperationException("This SqliteBackplane already serves a hub: open one backplane per EventHub (and one file per backplane).");
        _thread = new Thread(WriteLoop) { IsBackground = true, Name = "Bocata.Sqlite writer" };
        _thread.Start();
        return Volatile.Read(ref _last);
    }

    /// <inheritdoc />
    /// <remarks>Every topic's events reach the hub of this process, in order: its streams never wait for a topic.</remarks>
    public bool ListensByTopic => true;

    /// <inheritdoc />
    public bool Listen(string topic, long after) => true;

    /// <inheritdoc />
    public long KnownSequence => Volatile.Read(ref _last);

    /// <inheritdoc />
    public Task<long> ReadLastSequenceAsync(CancellationToken cancellationToken = default) => Task.FromResult(Volatile.Read(ref _last));

    /// <inheritdoc />
    /// <remarks>Publishes waiting for the writer fail (<see cref="ObjectDisposedException"/>); those it wrote are on disk.</remarks>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _queue.CompleteAdding();
        if (_thread is not null) await _stopped.Task;
        var gone = new ObjectDisposedException(nameof(SqliteBackplane), "The backplane was disposed before this publish was written.");
        while (_queue.TryTake(out var left)) left.Done.TrySetException(gone);
        _queue.Dispose();
        DisposeCommands();
        await _writer.DisposeAsync();
        using (var pooled = new SqliteConnection(_readConnection)) SqliteConnection.ClearPool(pooled);
        await _ownership.DisposeAsync();
    }
}
