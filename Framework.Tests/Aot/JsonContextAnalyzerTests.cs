using Bocata.Generators;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Aot;

/// <summary>BOCATA002 in a real compilation: under Native AOT, a type sent or read as JSON that no JSON context of the project
/// declares is reported (it would fail at run time); one a context declares, or holds inside a declared type, is not.</summary>
public class JsonContextAnalyzerTests
{
    [TestCase("res.Json = new Point(1, 2);", "res.Json", "Point")]
    [TestCase("res.Json = new[] { new Point(1, 2) };", "res.Json", "Point[]")]
    [TestCase("var p = await req.JsonAsync<Point>();", "req.JsonAsync<T>()", "Point")]
    [TestCase("var e = new ServerEvent(json: new Point(1, 2));", "new ServerEvent(json: …)", "Point")]
    [TestCase("req.Session.Set(\"p\", new Point(1, 2));", "session.Set<T>", "Point")]
    public async Task A_type_no_context_declares_is_reported_under_native_aot(string statement, string what, string type)
    {
        var diagnostics = await AnalyzeAsync(statement, context: "", publishAot: true);

        diagnostics.Should().ContainSingle().Which.GetMessage().Should().StartWith($"{what} uses '{type}' as JSON, but no JsonSerializerContext in this project declares it");
        diagnostics[0].Id.Should().Be("BOCATA002");
    }

    [TestCase("res.Json = new Point(1, 2);", "[JsonSerializable(typeof(Point))]")]
    [TestCase("var p = await req.JsonAsync<Point>();", "[JsonSerializable(typeof(Point))]")]
    [TestCase("res.Json = new[] { new Point(1, 2) };", "[JsonSerializable(typeof(Point[]))]")]
    [TestCase("res.Json = new Point(1, 2);", "[JsonSerializable(typeof(List<Point>))]")]
    [TestCase("res.Json = new Point(1, 2);", "[JsonSerializable(typeof(Line))]")]
    public async Task A_type_a_context_declares_or_holds_is_not_reported(string statement, string context) =>
        (await AnalyzeAsync(statement, context, publishAot: true)).Should().BeEmpty();

    [TestCase("res.Json = new Dictionary<string, int> { [\"a\"] = 1 };")]
    [TestCase("res.Json = new { a = 1 };")]
    [TestCase("res.Json = 42;")]
    [TestCase("res.Json = System.Text.Json.Nodes.JsonNode.Parse(\"{}\")!;")]
    [TestCase("var e = await req.JsonAsync();")]
    [TestCase("object o = new Point(1, 2); res.Json = o;")]
    public async Task What_bocata_serializes_itself_or_cannot_know_is_not_reported(string statement) =>
        (await AnalyzeAsync(statement, context: "", publishAot: true)).Should().BeEmpty();

    [Test]
    public async Task Nothing_is_reported_when_the_app_runs_jit_compiled() =>
        (await AnalyzeAsync("res.Json = new Point(1, 2);", context: "", publishAot: false)).Should().BeEmpty();

    private static Task<List<Microsoft.CodeAnalysis.Diagnostic>> AnalyzeAsync(string statement, string context, bool publishAot)
    {
        var source = $$"""
            using System;
            using System.Collections.Generic;
            using System.Text.Json;
            using System.Text.Json.Serialization;
            using System.Text.Json.Serialization.Metadata;
            using Bocata;
            var app = new App();
            app.Route("/", async (req, res) => { {{statement}} await System.Threading.Tasks.Task.CompletedTask; });
            public sealed record Point(int X, int Y);
            public sealed record Line(Point From, Point To);
            {{context}}
            public sealed partial class AppJson() : JsonSerializerContext(null)
            {
                protected override JsonSerializerOptions? GeneratedSerializerOptions => null;
                public override JsonTypeInfo? GetTypeInfo(Type type) => null;
            }
            """;
        var properties = new Dictionary<string, string>();
        if (publishAot) properties["build_property.PublishAot"] = "true";
        return AnonymousJsonAnalyzerTests.AnalyzeSourceAsync(source, properties, new JsonContextAnalyzer());
    }
}
