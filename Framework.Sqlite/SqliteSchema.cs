using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Bocata.Sqlite;

/// <summary>
/// The event file's tables, created on first open and checked on every open: a file that is not a Bocata event file, is of
/// another format version, or fails SQLite's own check is refused with a message naming the file (never taken for an empty hub).
/// </summary>
/// <remarks>
/// <c>meta</c>: <c>format</c> (1), <c>since</c> (the number the file's epoch began after), <c>last</c> (the last number given:
/// kept apart from the events, which retention may all remove, so numbers only grow). <c>events</c>: one row per event, its
/// fields as columns (readable with the <c>sqlite3</c> shell), with its topic's previous number and when it was written.
/// <c>topics</c>: one row per topic that had an event, with its low-water mark (the newest of its numbers trimmed away).
/// <c>once</c>: idempotency keys and the number they were given.
/// </remarks>
internal static class SqliteSchema
{
    public const int Format = 1;

    private const string Create = """
        CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE events(seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, previous INTEGER NOT NULL, at INTEGER NOT NULL,
                            name TEXT, data TEXT, id TEXT, retry INTEGER, comment TEXT);
        CREATE INDEX events_by_topic ON events(topic, seq);
        CREATE TABLE topics(topic TEXT PRIMARY KEY, low_water INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE once(key TEXT PRIMARY KEY, seq INTEGER NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
        CREATE INDEX once_by_age ON once(at);
        """;

    /// <summary>Creates the tables in a new file (its epoch begins after <paramref name="since"/>), or checks an existing file's.
    /// Returns the epoch's start and the last number given.</summary>
    public static (long Since, long Last) Prepare(SqliteConnection connection, string path, long since)
    {
        var tables = new List<string>();
        using (var list = connection.CreateCommand())
        {
            list.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table'";
            using var reader = list.ExecuteReader();
            while (reader.Read()) tables.Add(reader.GetString(0));
        }
        if (tables.Count == 0)
        {
            using var tx = connection.BeginTransaction();
            using var create = connection.CreateCommand();
            create.Transaction = tx;
            create.CommandText = Create + "INSERT INTO meta(key, value) VALUES ('format', $format), ('since', $since), ('last', $since);";
            create.Parameters.AddWithValue("$format", Format);
            create.Parameters.AddWithValue("$since", since);
            create.ExecuteNonQuery();
            tx.Commit();
            return (since, since);
        }
        if (!tables.Contains("meta") || !tables.Contains("events") || !tables.Contains("topics") || !tables.Contains("once"))
            throw Unusable(path, $"it is a SQLite database but not a Bocata event file (its tables: {string.Join(", ", tables)})", null);
        var meta = new Dictionary<string, long>(StringComparer.Ordinal);
        using (var read = connection.CreateCommand())
        {
            read.CommandText = "SELECT key, value FROM meta";
            using var reader = read.ExecuteReader();
            while (reader.Read()) meta[reader.GetString(0)] = reader.GetInt64(1);
        }
        if (!meta.TryGetValue("format", out var format) || !meta.TryGetValue("since", out var start) || !meta.TryGetValue("last", out var last))
            throw Unusable(path, "its meta table lacks format, since or last", null);
        if (format != Format)
            throw Unusable(path, $"it is format {format.ToString(CultureInfo.InvariantCulture)}, this Bocata.Sqlite reads format {Format.ToString(CultureInfo.InvariantCulture)} (a newer version wrote it?)", null);
        return (start, last);
    }

    /// <summary>SQLite's own check of the file's pages and indexes (PRAGMA quick_check): a damaged file is refused at startup.</summary>
    public static void Check(SqliteConnection connection, string path)
    {
        using var check = connection.CreateCommand();
        check.CommandText = "PRAGMA quick_check";
        var problems = new List<string>();
        using var reader = check.ExecuteReader();
        while (reader.Read() && problems.Count < 3) problems.Add(reader.GetString(0));
        if (problems is not ["ok"]) throw Unusable(path, "SQLite's integrity check failed: " + string.Join("; ", problems), null);
    }

    /// <summary>The startup error for a file that cannot be used: names it, says why and what to do.</summary>
    public static InvalidDataException Unusable(string path, string why, Exception? inner) =>
        new($"The event file {path} cannot be used: {why}. Bocata does not start on it with an empty history. Fix what is wrong " +
            "(permissions, disk), or move the file aside (keep it to inspect with the sqlite3 shell) and start again: a new file " +
            "begins a new epoch above every number given before, and clients resuming from the old file are told (event: resync).", inner);
}
