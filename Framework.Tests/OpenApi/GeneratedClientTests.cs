using System.Diagnostics;
using System.Reflection;
using System.Runtime.Loader;
using Bocata.Testing;
using FluentAssertions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using NUnit.Framework;

namespace Bocata.Tests.OpenApi;

/// <summary>A client generated from the OpenAPI 3.2.0 fixture by a real generator, Kiota (the <c>Microsoft.OpenApi.Kiota</c> dotnet tool),
/// compiled with Roslyn against the Kiota runtime packages, calls the running app behind the fixture. When <c>app.OpenApi</c> lands,
/// <see cref="GenerateAsync"/> takes its document instead.</summary>
[NonParallelizable]
public sealed class GeneratedClientTests
{
    public const string KiotaVersion = "1.38.0";

    /// <summary>The <c>kiota</c> executable: <c>BOCATA_KIOTA</c>, else where <c>.ci/run</c> installs it.</summary>
    private static string? Kiota
    {
        get
        {
            if (Environment.GetEnvironmentVariable("BOCATA_KIOTA") is { Length: > 0 } configured) return File.Exists(configured) ? configured : null;
            var installed = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "bocata-tools", "kiota", "kiota");
            return File.Exists(installed) ? installed : null;
        }
    }

    [Test]
    public async Task A_Kiota_client_generated_from_the_todo_api_s_document_adds_and_lists_todos()
    {
        if (Kiota is not { } kiota)
        {
            Assert.Ignore($"Kiota is not installed: dotnet tool install --tool-path ~/.cache/bocata-tools/kiota Microsoft.OpenApi.Kiota --version {KiotaVersion} (.ci/run does), or set BOCATA_KIOTA to its executable.");
            return;
        }
        // Examples/TodoApi's own document, as app.OpenApi serves it (inferred from its handlers): issue 34, item 6.
        await using var client = TodoApi.TodoApp.Create(s => s.AccessLog = false).CreateClient();
        var watch = Stopwatch.StartNew();
        var sources = await GenerateAsync(kiota, await client.GetStringAsync("/openapi.json"));
        var generated = watch.Elapsed;
        var probe = Compile(sources.Append(Probe));
        TestContext.Out.WriteLine($"kiota generate: {generated.TotalSeconds:F1} s ({sources.Count} files); Roslyn compile: {(watch.Elapsed - generated).TotalSeconds:F1} s");

        var run = probe.GetType("Probe")!.GetMethod("RunAsync")!.CreateDelegate<Func<string, Task<string>>>();
        var result = await run(client.Server.Url);

        result.Should().Be("3 Buy bread | Go shopping, Cook fries, Do laundry, Buy bread", "the todo added through the client is in the list it reads");
    }

    /// <summary>Runs <c>kiota generate</c> on <paramref name="json"/> and returns the C# files it wrote.</summary>
    private static async Task<List<string>> GenerateAsync(string kiota, string json)
    {
        var dir = Directory.CreateTempSubdirectory("bocata-kiota-");
        try
        {
            var document = Path.Combine(dir.FullName, "openapi.json");
            await File.WriteAllTextAsync(document, json);
            var output = Path.Combine(dir.FullName, "client");
            var start = new ProcessStartInfo(kiota) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir.FullName };
            foreach (var arg in new[] { "generate", "--language", "CSharp", "--openapi", document, "--output", output, "--class-name", "TodosClient", "--namespace-name", "Todos.Client", "--log-level", "Warning", "--exclude-backward-compatible" })
                start.ArgumentList.Add(arg);
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            await process.WaitForExitAsync(timeout.Token);
            var log = await stdout + await stderr;
            process.ExitCode.Should().Be(0, log);
            TestContext.Out.WriteLine(log);
            return Directory.GetFiles(output, "*.cs", SearchOption.AllDirectories).Select(File.ReadAllText).ToList();
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static Assembly Compile(IEnumerable<string> sources)
    {
        // The references the doc snippets compile against (shared, so a full run loads them once), and the Kiota runtime packages.
        var references = Docs.DocSnippetTests.References.Value.Concat(new[]
        {
            typeof(Microsoft.Kiota.Abstractions.IRequestAdapter), typeof(Microsoft.Kiota.Http.HttpClientLibrary.HttpClientRequestAdapter),
            typeof(Microsoft.Kiota.Serialization.Json.JsonParseNodeFactory), typeof(Microsoft.Kiota.Serialization.Text.TextParseNodeFactory),
            typeof(Microsoft.Kiota.Serialization.Form.FormParseNodeFactory), typeof(Microsoft.Kiota.Serialization.Multipart.MultipartSerializationWriterFactory),
        }.Select(type => MetadataReference.CreateFromFile(type.Assembly.Location)));
        var compilation = CSharpCompilation.Create("ItemsClient", sources.Select(s => CSharpSyntaxTree.ParseText(s, new CSharpParseOptions(LanguageVersion.Latest))),
            references, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        using var image = new MemoryStream();
        var emitted = compilation.Emit(image);
        emitted.Success.Should().BeTrue(string.Join("\n", emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        image.Position = 0;
        return new AssemblyLoadContext("ItemsClient", isCollectible: true).LoadFromStream(image);
    }

    /// <summary>What a user of the generated client writes: add a todo (201), then list them.</summary>
    private const string Probe = """
        using System.Linq;
        using Todos.Client;
        using Todos.Client.Models;
        using Microsoft.Kiota.Abstractions.Authentication;
        using Microsoft.Kiota.Http.HttpClientLibrary;

        public static class Probe
        {
            public static async System.Threading.Tasks.Task<string> RunAsync(string baseUrl)
            {
                var adapter = new HttpClientRequestAdapter(new AnonymousAuthenticationProvider()) { BaseUrl = baseUrl };
                var client = new TodosClient(adapter);
                var added = await client.Todos.PostAsync(new NewTodo { Content = "Buy bread" });
                var all = await client.Todos.GetAsync();
                return $"{added!.Id} {added.Content} | {string.Join(", ", all!.Select(t => t.Content))}";
            }
        }
        """;
}
