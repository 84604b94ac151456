using Bocata.Generators;
using FluentAssertions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using NUnit.Framework;

namespace Bocata.Tests.Aot;

/// <summary>BOCATA001 in a real compilation: an anonymous object serialized as JSON is reported when the app publishes Native
/// AOT (where it would fail at run time), and only then.</summary>
public class AnonymousJsonAnalyzerTests
{
    [TestCase("res.Json = new { a = 1 };", "res.Json")]
    [TestCase("var e = new ServerEvent(json: new { temperature = 21.5 });", "new ServerEvent(json: …)")]
    [TestCase("var e = new ServerEvent(name: \"x\", json: new { t = 1 }, id: \"1\");", "new ServerEvent(json: …)")]
    public async Task An_anonymous_object_as_json_is_reported_under_native_aot_with_the_generator_off(string statement, string what)
    {
        var diagnostics = await AnalyzeAsync(statement, publishAot: true, generator: false);

        diagnostics.Should().ContainSingle().Which.GetMessage().Should().StartWith($"{what} of an anonymous object cannot be serialized under Native AOT");
        diagnostics[0].Id.Should().Be("BOCATA001");
    }

    [TestCase("res.Json = new Dictionary<string, int> { [\"a\"] = 1 };")]
    [TestCase("res.Json = new Point(1, 2);")]
    [TestCase("var e = new ServerEvent(json: new Dictionary<string, double> { [\"t\"] = 1 });")]
    [TestCase("res.Text = new { a = 1 }.ToString()!;")]
    public async Task Named_types_are_not_reported(string statement) =>
        (await AnalyzeAsync(statement, publishAot: true)).Should().BeEmpty();

    [TestCase("res.Json = new { a = 1, nested = new { b = \"x\" } };")]
    [TestCase("var e = new ServerEvent(json: new { temperature = 21.5, at = System.DateTime.UtcNow });")]
    public async Task An_anonymous_object_the_generator_registers_is_not_reported(string statement) =>
        (await AnalyzeAsync(statement, publishAot: true)).Should().BeEmpty();

    [Test]
    public async Task An_anonymous_object_the_generator_cannot_write_is_reported_even_with_it_on() =>
        (await AnalyzeAsync("res.Json = new { items = new[] { new { a = 1 } } };", publishAot: true)).Should().ContainSingle(d => d.Id == "BOCATA001");

    [Test]
    public async Task Nothing_is_reported_when_the_app_runs_jit_compiled() =>
        (await AnalyzeAsync("res.Json = new { a = 1 };", publishAot: false)).Should().BeEmpty();

    [Test]
    public async Task A_websocket_json_message_is_reported_too() =>
        (await AnalyzeAsync("", publishAot: true, generator: false, webSocket: "await ws.SendJsonAsync(new { a = 1 });")).Should().ContainSingle(d => d.Id == "BOCATA001");

    private static async Task<List<Diagnostic>> AnalyzeAsync(string statement, bool publishAot, bool generator = true, string webSocket = "")
    {
        var source = $$"""
            using System.Collections.Generic;
            using Bocata;
            var app = new App();
            app.Route("/", (req, res) => { {{statement}} });
            app.WebSocketRoute("/ws", async ws => { {{webSocket}} });
            public sealed record Point(int X, int Y);
            """;
        var properties = new Dictionary<string, string>();
        if (publishAot) properties["build_property.PublishAot"] = "true";
        if (!generator) properties["build_property.BocataGenerateBinders"] = "false";
        return await AnalyzeSourceAsync(source, properties, new AnonymousJsonAnalyzer());
    }

    /// <summary>Compiles <paramref name="source"/> (an app against Bocata, which must compile) and runs <paramref name="analyzer"/>
    /// with these MSBuild properties.</summary>
    internal static async Task<List<Diagnostic>> AnalyzeSourceAsync(string source, Dictionary<string, string> properties, DiagnosticAnalyzer analyzer)
    {
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator).Append(typeof(App).Assembly.Location).Distinct()
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path));
        var compilation = CSharpCompilation.Create("App", [CSharpSyntaxTree.ParseText(source)], references, new CSharpCompilationOptions(OutputKind.ConsoleApplication));
        compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Should().BeEmpty();
        var options = new AnalyzerOptions([], new BuildProperties(properties));
        var diagnostics = await compilation.WithAnalyzers([analyzer], options).GetAnalyzerDiagnosticsAsync();
        return [.. diagnostics];
    }

    internal sealed class BuildProperties(Dictionary<string, string> values) : AnalyzerConfigOptionsProvider
    {
        public override AnalyzerConfigOptions GlobalOptions { get; } = new Values(values);

        public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => new Values([]);

        public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => new Values([]);

        private sealed class Values(Dictionary<string, string> values) : AnalyzerConfigOptions
        {
            public override bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value) => values.TryGetValue(key, out value);
        }
    }
}
