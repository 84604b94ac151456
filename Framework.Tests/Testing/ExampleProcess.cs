using System.Diagnostics;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace Bocata.Tests.Testing;

/// <summary>Runs an app from Examples/ as its own process on a free port, the way a user runs it, and reads its startup line for the URL.</summary>
internal sealed partial class ExampleProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ExampleProcess(Process process, string url)
    {
        _process = process;
        Url = url;
    }

    public string Url { get; }

    public static async Task<ExampleProcess> StartAsync(string name, IReadOnlyDictionary<string, string>? environment = null)
    {
        var testDir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
        var configuration = testDir.Parent!.Name;
        var root = testDir.Parent.Parent!.Parent!.Parent!.FullName;
        var dll = Path.Combine(root, "Examples", name, "bin", configuration, testDir.Name, name + ".dll");
        if (!File.Exists(dll)) throw new FileNotFoundException($"Example {name} is not built at {dll}; build the solution.", dll);

        var start = new ProcessStartInfo("dotnet", [dll])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = root,
        };
        start.Environment["PORT"] = "0";
        start.Environment["HOST"] = "127.0.0.1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        var process = Process.Start(start)!;
        var urlFound = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line && StartupLine().Match(line) is { Success: true } m) urlFound.TrySetResult(m.Groups[1].Value);
        };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var url = await urlFound.Task.WaitAsync(TimeSpan.FromSeconds(30));
        return new ExampleProcess(process, url);
    }

    /// <summary>Kills the process at once, as a crash would (no graceful stop).</summary>
    public async Task KillAsync()
    {
        if (_process.HasExited) return;
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    [GeneratedRegex(@"Bocata running on (http\S+)")]
    private static partial Regex StartupLine();
}
