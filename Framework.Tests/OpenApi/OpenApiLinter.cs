using System.Diagnostics;
using System.Text.Json;

namespace Bocata.Tests.OpenApi;

/// <summary>Redocly CLI (<c>@redocly/cli</c> from the npm registry, an OpenAPI 3.2 linter independent of Bocata), run on any document.
/// <c>.ci/run</c> installs it under <c>~/.cache/bocata-tools/npm</c>; <c>BOCATA_REDOCLY</c> names another executable.</summary>
internal static class OpenApiLinter
{
    public const string Version = "2.77.0";

    /// <summary>The <c>redocly</c> executable, or null when it is not installed.</summary>
    public static string? Executable
    {
        get
        {
            if (Environment.GetEnvironmentVariable("BOCATA_REDOCLY") is { Length: > 0 } configured) return File.Exists(configured) ? configured : null;
            var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            var installed = Path.Combine(home, ".cache", "bocata-tools", "npm", "node_modules", ".bin", "redocly");
            return File.Exists(installed) ? installed : null;
        }
    }

    public static string MissingReason =>
        $"Redocly CLI is not installed: npm install --prefix ~/.cache/bocata-tools/npm @redocly/cli@{Version} (.ci/run does), or set BOCATA_REDOCLY to its executable.";

    /// <summary>Lints <paramref name="json"/> with Redocly's recommended rules (redocly.yaml beside this file).</summary>
    public static async Task<LintResult> LintAsync(string json, CancellationToken cancellationToken = default)
    {
        var executable = Executable ?? throw new InvalidOperationException(MissingReason);
        var dir = Directory.CreateTempSubdirectory("bocata-lint-");
        try
        {
            var document = Path.Combine(dir.FullName, "openapi.json");
            await File.WriteAllTextAsync(document, json, cancellationToken);
            var config = Path.Combine(TestApps.Root, "Framework.Tests", "OpenApi", "redocly.yaml");
            var start = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir.FullName };
            foreach (var arg in new[] { "lint", "--config", config, "--format", "json", document }) start.ArgumentList.Add(arg);
            // No telemetry or update check: CI has no network beyond the package registries.
            start.Environment["REDOCLY_TELEMETRY"] = "off";
            start.Environment["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true";
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken);
            return LintResult.Parse(await stdout, await stderr);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}

/// <summary>Redocly's JSON report: its totals and each problem as "severity rule at pointer: message".</summary>
internal sealed record LintResult(int Errors, int Warnings, IReadOnlyList<string> Problems, string Output)
{
    public static LintResult Parse(string stdout, string stderr)
    {
        var start = stdout.IndexOf('{');
        if (start < 0) throw new InvalidOperationException($"Redocly printed no JSON report:\n{stdout}\n{stderr}");
        using var report = JsonDocument.Parse(stdout[start..]);
        var totals = report.RootElement.GetProperty("totals");
        var problems = new List<string>();
        foreach (var problem in report.RootElement.GetProperty("problems").EnumerateArray())
        {
            var pointer = problem.GetProperty("location")[0].GetProperty("pointer").GetString();
            problems.Add($"{problem.GetProperty("severity").GetString()} {problem.GetProperty("ruleId").GetString()} at {pointer}: {problem.GetProperty("message").GetString()}");
        }
        return new LintResult(totals.GetProperty("errors").GetInt32(), totals.GetProperty("warnings").GetInt32(), problems, stdout + stderr);
    }
}
