using System.Text.RegularExpressions;
using FluentAssertions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using NUnit.Framework;

namespace Bocata.Tests.Docs;

/// <summary>Every ```csharp block in README.md and docs/ compiles against Bocata, so the docs never lie.</summary>
public partial class DocSnippetTests
{
    internal const string GlobalUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    internal static readonly Lazy<MetadataReference[]> References = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Append(typeof(App).Assembly.Location)
            .Append(typeof(Microsoft.IdentityModel.Tokens.TokenValidationParameters).Assembly.Location)
            .Append(typeof(Microsoft.IdentityModel.JsonWebTokens.JsonWebTokenHandler).Assembly.Location)
            .Append(typeof(Microsoft.IdentityModel.Abstractions.IIdentityLogger).Assembly.Location)
            .Append(typeof(Microsoft.IdentityModel.Logging.LogHelper).Assembly.Location)
            .Append(typeof(Bocata.Redis.RedisBackplane).Assembly.Location)
            .Append(typeof(StackExchange.Redis.ConnectionMultiplexer).Assembly.Location)
            .Append(typeof(Bocata.Sqlite.SqliteBackplane).Assembly.Location)
            .Append(typeof(OpenTelemetry.Sdk).Assembly.Location)
            .Append(typeof(OpenTelemetry.Metrics.MeterProviderBuilder).Assembly.Location)
            .Append(typeof(OpenTelemetry.Metrics.PrometheusHttpListenerMeterProviderBuilderExtensions).Assembly.Location)
            .Distinct()
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))
            .ToArray());

    private static string Root => Path.GetFullPath(Path.Combine(TestContext.CurrentContext.TestDirectory, "..", "..", "..", ".."));

    public static IEnumerable<TestCaseData> Snippets()
    {
        var files = Directory.GetFiles(Path.Combine(Root, "docs"), "*.md", SearchOption.AllDirectories).Append(Path.Combine(Root, "README.md"));
        foreach (var file in files.Order(StringComparer.Ordinal))
        {
            var index = 0;
            string? previous = null;
            foreach (Match match in CSharpBlock().Matches(File.ReadAllText(file)))
            {
                index++;
                var name = $"{Path.GetRelativePath(Root, file).Replace('\\', '/')}#{index}";
                // A snippet marked `<!-- snippet: compiled with the one before -->` uses the types of the block before it (the
                // page shows them once), so nothing in it stands in for a user's own type.
                var with = match.Groups["with"].Success ? previous : null;
                yield return new TestCaseData(name, match.Groups[1].Value, with).SetName($"Snippet_compiles({name})");
                previous = match.Groups[1].Value;
            }
        }
    }

    [Test]
    public void The_docs_have_snippets() =>
        Snippets().Count().Should().BeGreaterThan(30);

    [TestCaseSource(nameof(Snippets))]
    public void Snippet_compiles(string name, string code, string? with) =>
        CompileErrors(name, code, with).Should().BeEmpty($"the snippet {name} must compile:\n{code}");

    [Test]
    public void A_snippet_that_misuses_the_api_is_caught() =>
        CompileErrors("broken", "app.Rout(\"/\", (req, res) => res.Txt = \"x\");").Should().NotBeEmpty();

    private static List<string> CompileErrors(string name, string code, string? with = null)
    {
        // A fragment that uses `app` without creating it gets `var app = new App();` in front, as the guides assume.
        var usesApp = Regex.IsMatch(code, @"\bapp\.") && !Regex.IsMatch(code, @"\bvar app\s*=");
        // The snippet's own using directives stay first, before the implied `var app`.
        var usings = LeadingUsings().Match(code).Value;
        var firstLine = usings.Count(c => c == '\n') + 1;
        var prelude = usings + "using Bocata;\nusing System.Runtime.CompilerServices;\n" + (usesApp ? "var app = new App();\n" : "");
        var source = prelude + $"#line {firstLine}\n" + code[usings.Length..];
        var tree = CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest), path: name);
        var hasStatements = tree.GetRoot().ChildNodes().OfType<GlobalStatementSyntax>().Any();
        var compilation = CSharpCompilation.Create(
            "Snippet",
            with is null ? [tree, CSharpSyntaxTree.ParseText(GlobalUsings)] : [tree, CSharpSyntaxTree.ParseText(GlobalUsings), CSharpSyntaxTree.ParseText(with, new CSharpParseOptions(LanguageVersion.Latest), path: name + "-before")],
            References.Value,
            new CSharpCompilationOptions(hasStatements ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

        // A snippet with a JSON context (the AOT guide's) is compiled as the SDK compiles it: with System.Text.Json's generator.
        Compilation compiled = compilation;
        if (code.Contains("JsonSerializerContext", StringComparison.Ordinal) || with?.Contains("JsonSerializerContext", StringComparison.Ordinal) == true)
            CSharpGeneratorDriver.Create(JsonGenerators.Value).RunGeneratorsAndUpdateCompilation(compilation, out compiled, out _);
        return compiled.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToList();
    }

    /// <summary>System.Text.Json's source generator, from the newest installed reference pack (what `dotnet build` runs).</summary>
    internal static readonly Lazy<ISourceGenerator[]> JsonGenerators = new(() =>
    {
        var dotnetRoot = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "..", "..", ".."));
        var pack = Directory.GetDirectories(Path.Combine(dotnetRoot, "packs", "Microsoft.NETCore.App.Ref")).OrderBy(d => Version.Parse(Path.GetFileName(d))).Last();
        var path = Path.Combine(pack, "analyzers", "dotnet", "cs", "System.Text.Json.SourceGeneration.dll");
        return [.. new Microsoft.CodeAnalysis.Diagnostics.AnalyzerFileReference(path, new AnalyzerLoader()).GetGenerators(LanguageNames.CSharp)];
    });

    internal sealed class AnalyzerLoader : Microsoft.CodeAnalysis.IAnalyzerAssemblyLoader
    {
        public void AddDependencyLocation(string fullPath)
        {
        }

        public System.Reflection.Assembly LoadFromPath(string fullPath) => System.Reflection.Assembly.LoadFrom(fullPath);
    }

    [GeneratedRegex(@"\A(?:using [\w.]+;[ \t]*\r?\n)+")]
    private static partial Regex LeadingUsings();

    [GeneratedRegex("(?<with><!-- snippet: compiled with the one before[^>]*-->\\r?\\n)?```csharp\\r?\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();
}

/// <summary>Every relative link in README.md and docs/ points at a file that exists (and an anchor that exists in it).</summary>
public partial class DocLinkTests
{
    private static string Root => Path.GetFullPath(Path.Combine(TestContext.CurrentContext.TestDirectory, "..", "..", "..", ".."));

    [Test]
    public void Relative_links_resolve()
    {
        var broken = new List<string>();
        var checkedLinks = 0;
        var files = Directory.GetFiles(Path.Combine(Root, "docs"), "*.md", SearchOption.AllDirectories).Append(Path.Combine(Root, "README.md"));
        foreach (var file in files)
        {
            var text = File.ReadAllText(file);
            foreach (Match link in Link().Matches(text))
            {
                var target = link.Groups[1].Value;
                if (target.StartsWith("http", StringComparison.Ordinal) || target.StartsWith('#') || target.StartsWith("mailto:", StringComparison.Ordinal)) continue;
                checkedLinks++;
                var parts = target.Split('#', 2);
                var path = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, parts[0]));
                if (!File.Exists(path) && !Directory.Exists(path))
                {
                    broken.Add($"{Path.GetRelativePath(Root, file)}: {target}");
                    continue;
                }
                if (parts.Length == 2 && File.Exists(path) && path.EndsWith(".md", StringComparison.Ordinal))
                {
                    var anchors = Heading().Matches(File.ReadAllText(path)).Select(h => Slug(h.Groups[1].Value)).ToHashSet();
                    if (!anchors.Contains(parts[1])) broken.Add($"{Path.GetRelativePath(Root, file)}: {target} (no such heading)");
                }
            }
        }
        checkedLinks.Should().BeGreaterThan(50);
        broken.Should().BeEmpty();
    }

    // GitHub's anchors: lower case, punctuation dropped, spaces to hyphens.
    private static string Slug(string heading) =>
        Regex.Replace(heading.Trim().ToLowerInvariant().Replace("`", "", StringComparison.Ordinal), @"[^\p{L}\p{N} _-]", "").Replace(' ', '-');

    [GeneratedRegex(@"\]\(([^)\s]+)\)")]
    private static partial Regex Link();

    [GeneratedRegex(@"^#+ (.+)$", RegexOptions.Multiline)]
    private static partial Regex Heading();
}
