using System.Diagnostics;

namespace Bocata.Tests.Testing;

/// <summary>Runs the dotnet CLI as a user would, with no build server or reused node outliving the command (and none of the
/// test run's own touched).</summary>
internal static class DotnetCli
{
    public static Task<(int Code, string Output)> RunAsync(string workingDirectory, TimeSpan timeout, params string[] args) =>
        RunAsync(workingDirectory, timeout, niced: false, args);

    /// <summary>With <paramref name="niced"/>, at the lowest CPU priority (<c>nice -n 19</c>): a long build in the background
    /// takes only what the tests running beside it leave.</summary>
    public static async Task<(int Code, string Output)> RunAsync(string workingDirectory, TimeSpan timeout, bool niced, params string[] args)
    {
        var start = niced && File.Exists("/usr/bin/nice") ? new ProcessStartInfo("/usr/bin/nice", ["-n", "19", "dotnet", .. args]) : new ProcessStartInfo("dotnet", args);
        start.WorkingDirectory = workingDirectory;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        start.Environment["UseSharedCompilation"] = "false";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', args)} did not finish in {timeout.TotalMinutes} min:\n{await output}{await error}");
        }
        return (process.ExitCode, await output + await error);
    }
}
