using System.Diagnostics;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace Bocata.Tests.Testing;

/// <summary>Runs an app from Examples/ as its own process on a free port, the way a user runs it, and reads its startup line for the URL.</summary>
internal sealed partial class ExampleProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _output;

    private ExampleProcess(Process process, string url, System.Collections.Concurrent.ConcurrentQueue<string> output)
    {
        _process = process;
        Url = url;
        _output = output;
    }

    /// <summary>Waits until some standard output lines match <paramref name="predicate"/>, and returns those lines.</summary>
    public async Task<List<string>> OutputLinesAsync(Func<string, bool> predicate, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var matching = _output.Where(predicate).ToList();
            if (matching.Count > 0 || DateTime.UtcNow > deadline) return matching;
            await Task.Delay(50);
        }
    }

    public string Url { get; }

    public static async Task<ExampleProcess> StartAsync(string name, IReadOnlyDictionary<string, string>? environment = null)
    {
        var (start, _) = StartInfo(name);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        return await LaunchAsync(start);
    }

    /// <summary>Starts a published app's own executable (a Native AOT binary) on a free port, from its folder.</summary>
    public static Task<ExampleProcess> StartExecutableAsync(string executable)
    {
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(executable)!,
        };
        start.Environment["PORT"] = "0";
        start.Environment["HOST"] = "127.0.0.1";
        return LaunchAsync(start);
    }

    private static async Task<ExampleProcess> LaunchAsync(ProcessStartInfo start)
    {
        var process = Process.Start(start)!;
        var urlFound = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line) return;
            if (output.Count < 10_000) output.Enqueue(line);
            if (StartupLine().Match(line) is { Success: true } m) urlFound.TrySetResult(m.Groups[1].Value);
        };
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line && errors.Count < 100) errors.Enqueue(line);
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var url = await urlFound.Task.WaitAsync(TimeSpan.FromSeconds(30));
            return new ExampleProcess(process, url, output);
        }
        catch (TimeoutException)
        {
            var exited = process.HasExited ? $"exited with {process.ExitCode}" : "still running";
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{start.FileName} printed no \"running on\" line in 30 s ({exited}). Output:\n{string.Join('\n', output)}\nErrors:\n{string.Join('\n', errors)}");
        }
    }

    /// <summary>Runs an example that is expected to end by itself (e.g. on a configuration mistake): exit code and output.</summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunToExitAsync(string name, IReadOnlyDictionary<string, string> environment)
    {
        var (start, _) = StartInfo(name);
        foreach (var (key, value) in environment) start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"Example {name} did not exit.");
        }
        return (process.ExitCode, await output, await error);
    }

    private static (ProcessStartInfo Start, string Root) StartInfo(string name)
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
        return (start, root);
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
