using Bocata.Generators;
using Bocata.Tests.Docs;
using FluentAssertions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using NUnit.Framework;

namespace Bocata.Tests.Aot;

/// <summary>
/// Every example, compiled as <c>dotnet publish -p:PublishAot=true</c> compiles it — System.Text.Json's and Bocata's source
/// generators, then the SDK's trim/AOT analyzers (ILLink's Roslyn analyzers), Bocata's BOCATA001/BOCATA002 and its suppressor
/// — reports nothing, except Greeter's Liquid templates, the documented reflection-only case. In-process, in seconds per
/// example: a native publish of each (about 70 s) is what Toolchain/NativeAotTests checks for TemperatureFeed and a binding app.
/// </summary>
public class ExampleAotAnalysisTests
{
    /// <summary>The repository (from the test assembly's folder: test cases are listed before any test context exists).</summary>
    private static string Root => Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", ".."));

    public static IEnumerable<string> Examples() =>
        Directory.GetDirectories(Path.Combine(Root, "Examples")).Select(Path.GetFileName).Order(StringComparer.Ordinal)!;

    [TestCaseSource(nameof(Examples))]
    public async Task An_example_compiled_for_native_aot_reports_no_trim_aot_or_json_problem(string example)
    {
        var diagnostics = await AnalyzeAsync(Path.Combine(Root, "Examples", example));

        var reported = diagnostics.Select(d => $"{d.Id} {Path.GetFileName(d.Location.SourceTree?.FilePath)}:{d.Location.GetLineSpan().StartLinePosition.Line + 1} {d.GetMessage()}").ToList();
        if (example == "Greeter")
        {
            // Documented in docs/guide/aot.md: Fluid reads template models by reflection; the warning names the way around it.
            reported.Should().NotBeEmpty().And.OnlyContain(d => (d.StartsWith("IL2026 ", StringComparison.Ordinal) || d.StartsWith("IL3050 ", StringComparison.Ordinal)) && d.Contains("Bocata.Templates.Templates(", StringComparison.Ordinal));
            return;
        }
        reported.Should().BeEmpty($"Examples/{example} should publish Native AOT with zero warnings");
    }

    private static async Task<List<Diagnostic>> AnalyzeAsync(string directory)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest).WithFeatures([new("InterceptorsNamespaces", "Bocata.Generated")]);
        var trees = Directory.EnumerateFiles(directory, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), parse, path: f))
            .Append(CSharpSyntaxTree.ParseText(DocSnippetTests.GlobalUsings, parse, path: "GlobalUsings.g.cs"));
        var compilation = CSharpCompilation.Create(Path.GetFileName(directory), trees, DocSnippetTests.References.Value,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));

        // What the SDK passes to generators and analyzers when it publishes Native AOT.
        var properties = new AnonymousJsonAnalyzerTests.BuildProperties(new Dictionary<string, string>
        {
            ["build_property.PublishAot"] = "true",
            ["build_property.EnableTrimAnalyzer"] = "true",
            ["build_property.EnableAotAnalyzer"] = "true",
            ["build_property.EnableSingleFileAnalyzer"] = "true",
        });
        var generators = DocSnippetTests.JsonGenerators.Value.Append(new BinderGenerator().AsSourceGenerator());
        CSharpGeneratorDriver.Create(generators, parseOptions: parse, optionsProvider: properties)
            .RunGeneratorsAndUpdateCompilation(compilation, out var generated, out var generatorErrors);
        generatorErrors.Where(d => d.Severity == DiagnosticSeverity.Error).Should().BeEmpty();
        generated.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).Should().BeEmpty("the example compiles");

        DiagnosticAnalyzer[] analyzers = [.. TrimAnalyzers.Value, new AnonymousJsonAnalyzer(), new JsonContextAnalyzer(), new BinderSuppressor()];
        var withAnalyzers = generated.WithAnalyzers([.. analyzers], new AnalyzerOptions([], properties));
        var diagnostics = await withAnalyzers.GetAnalyzerDiagnosticsAsync();
        return [.. diagnostics.Where(d => !d.IsSuppressed && d.Severity >= DiagnosticSeverity.Warning)];
    }

    /// <summary>The SDK's trim and AOT analyzers (IL2026, IL3050, …), from the ILLink package restored for IsAotCompatible.</summary>
    private static readonly Lazy<DiagnosticAnalyzer[]> TrimAnalyzers = new(() =>
    {
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var versions = Path.Combine(packages, "microsoft.net.illink.tasks");
        var newest = Directory.GetDirectories(versions).OrderBy(d => Version.TryParse(Path.GetFileName(d).Split('-')[0], out var v) ? v : new Version()).Last();
        var path = Path.Combine(newest, "analyzers", "dotnet", "cs", "ILLink.RoslynAnalyzer.dll");
        return [.. new AnalyzerFileReference(path, new DocSnippetTests.AnalyzerLoader()).GetAnalyzers(LanguageNames.CSharp)];
    });
}
