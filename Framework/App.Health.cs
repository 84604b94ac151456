using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>Liveness and readiness probes for orchestrators and load balancers.</summary>
public sealed partial class App
{
    /// <summary>How long the readiness checks of one probe may take together (Kubernetes' own probe timeout is 1 s by default;
    /// a probe that times out is a failure either way).</summary>
    internal static readonly TimeSpan ReadinessTimeout = TimeSpan.FromSeconds(2);

    private readonly List<(string Name, Func<CancellationToken, Task<string?>> Check)> _readiness = [];
    private bool _health;

    /// <summary>Serves the probes of an orchestrator (Kubernetes) or load balancer: <paramref name="livePath"/> answers 200 while
    /// the process serves; <paramref name="readyPath"/> answers 200 when every <c>app.Ready</c> check passes, and 503 with a JSON
    /// body naming what is not ready once a stop has begun or while a check fails. Successful probes stay out of the access log.</summary>
    public void Health(string livePath = "/healthz", string readyPath = "/readyz")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(livePath);
        ArgumentException.ThrowIfNullOrWhiteSpace(readyPath);
        EnsureNotFrozen("Health");
        if (_health) throw new InvalidOperationException("app.Health is called once: app.Health(livePath, readyPath) serves both probes.");
        if (livePath == readyPath) throw new ArgumentException($"Liveness and readiness need different paths (both are '{livePath}'), e.g. app.Health(\"/healthz\", \"/readyz\").", nameof(readyPath));
        _health = true;
        Get(livePath, static (req, res) =>
        {
            res.NotLogged = true;
            res.Headers["Cache-Control"] = "no-store";
            res.Json = new Dictionary<string, string> { ["status"] = "alive" };
        }).ExcludeFromDescription();
        // Probes are for the orchestrator, not operations of the app's API.
        Get(readyPath, (Func<Request, Response, Task>)ReadyAsync).ExcludeFromDescription();
    }

    /// <summary>Adds a readiness check: the app is not ready while <paramref name="check"/> returns false (or throws).</summary>
    public void Ready(string name, Func<bool> check)
    {
        ArgumentNullException.ThrowIfNull(check);
        AddReadiness(name, _ => Task.FromResult(check() ? null : "not ready"));
    }

    /// <summary>Adds a readiness check that awaits (a database ping): not ready while it returns false, throws or takes longer
    /// than two seconds (its token is then cancelled).</summary>
    public void Ready(string name, Func<CancellationToken, Task<bool>> check)
    {
        ArgumentNullException.ThrowIfNull(check);
        AddReadiness(name, async ct => await check(ct) ? null : "not ready");
    }

    /// <summary>Adds a readiness check on <paramref name="hub"/>: not ready while its backplane cannot confirm publishes (e.g.
    /// Redis is unreachable), with the backplane's reason.</summary>
    public void Ready(string name, EventHub hub)
    {
        ArgumentNullException.ThrowIfNull(hub);
        AddReadiness(name, _ => Task.FromResult(hub.Unavailable));
    }

    private void AddReadiness(string name, Func<CancellationToken, Task<string?>> check)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        EnsureNotFrozen("Ready");
        if (name == "app" || _readiness.Exists(c => c.Name == name))
            throw new ArgumentException($"A readiness check is already named '{name}' (\"app\" is the app's own): give each check its own name.", nameof(name));
        _readiness.Add((name, check));
    }

    /// <summary>Checks registered with <c>app.Ready</c> are answered by <c>app.Health</c>: without it they would silently do nothing.</summary>
    private void ValidateHealth()
    {
        if (_readiness.Count > 0 && !_health)
            throw new InvalidOperationException($"app.Ready(\"{_readiness[0].Name}\", ...) needs app.Health() to serve the readiness endpoint: call app.Health() (GET /healthz and /readyz).");
    }

    private async Task ReadyAsync(Request req, Response res)
    {
        res.Headers["Cache-Control"] = "no-store";
        var server = req.Context.Server;
        Dictionary<string, string>? failing = null;
        if (server.StopBegun) (failing ??= [])["app"] = "stopping";
        if (_readiness.Count > 0)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(req.Aborted);
            timeout.CancelAfter(ReadinessTimeout);
            var checks = new Task<string?>[_readiness.Count];
            for (var i = 0; i < checks.Length; i++) checks[i] = RunAsync(_readiness[i].Name, _readiness[i].Check, server.Log, timeout.Token);
            var results = await Task.WhenAll(checks);
            for (var i = 0; i < results.Length; i++)
                if (results[i] is { } reason) (failing ??= [])[_readiness[i].Name] = reason;
        }
        if (failing is null)
        {
            res.NotLogged = true;
            res.Json = new Dictionary<string, string> { ["status"] = "ready" };
            return;
        }
        ErrorHandlers.ToJson(req, res, new HttpError(503, failing));
    }

    private static async Task<string?> RunAsync(string name, Func<CancellationToken, Task<string?>> check, ILogger log, CancellationToken ct)
    {
        try
        {
            return await check(ct).WaitAsync(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return $"timed out after {ReadinessTimeout.TotalSeconds:0} s";
        }
        catch (Exception e)
        {
            // The reason stays in the log: a probe's body is often public.
            log.LogWarning(e, "Readiness check {Name} failed", name);
            return "failed (see the log)";
        }
    }
}
