using Bocata.Sqlite;
using Bocata.Testing;

namespace Bocata.Tests.Sqlite;

/// <summary>A temporary folder for event files, and what a test opened on them (backplanes, test servers), disposed at the end
/// in reverse order before the folder is deleted.</summary>
internal sealed class SqliteFiles : IAsyncDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("bocata-sqlite-");
    private readonly List<IAsyncDisposable> _owned = [];

    /// <summary>A path in the folder (the file is not created).</summary>
    public string PathOf(string name = "events.db") => Path.Combine(_directory.FullName, name);

    public T Own<T>(T disposable) where T : IAsyncDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    /// <summary>Opens the file as an app does; the test's end closes it.</summary>
    public async Task<SqliteBackplane> OpenAsync(string path, TimeSpan? retention = null, int maxEventsPerTopic = 1000) =>
        Own(await SqliteBackplane.OpenAsync(path, retention, maxEventsPerTopic));

    /// <summary>An app serving the hub: <c>/feed</c> (the default topic) and <c>/events?topic=a&amp;topic=b</c>, on a real socket.</summary>
    public TestClient Serve(EventHub hub)
    {
        var app = TestApps.Quiet();
        app.Route("/events", (req, res) => res.EventStream(hub.Subscribe(req, req.QueryParams.GetAll("topic").ToArray())));
        app.Route("/feed", (req, res) => res.EventStream(hub.Subscribe(req)));
        return Own(app.CreateClient());
    }

    /// <summary>Closes what was opened so far (the server first): a restart of the process, as far as the file is concerned.</summary>
    public async Task CloseAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--) await _owned[i].DisposeAsync();
        _owned.Clear();
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync();
        try
        {
            _directory.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
