using Bocata.Generators;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.OpenApi;

/// <summary>BOCATA003 in a real compilation: a handler that reads its body through a helper is reported, with the route and the
/// call to add, when the app serves an OpenAPI document; not when it reads the body itself, says .Accepts, or serves no document.</summary>
public class OpenApiBodyAnalyzerTests
{
    [Test]
    public async Task A_body_read_by_a_helper_is_reported_with_the_route_and_the_call_to_add()
    {
        var diagnostics = await AnalyzeAsync("app.OpenApi();", "app.Post(\"/items\", async (req, res) => res.Json = await Read(req));");

        diagnostics.Should().ContainSingle().Which.GetMessage().Should()
            .Be("The handler of POST /items reads the request body through 'Read', which the OpenAPI description cannot see into: add .Accepts<Item>() to the route");
        diagnostics[0].Id.Should().Be("BOCATA003");
    }

    [TestCase("app.OpenApi();", "app.Post(\"/items\", async (req, res) => res.Json = await Read(req)).Summary(\"s\").Accepts<Item>();")]
    [TestCase("app.OpenApi();", "app.Post(\"/items\", async (req, res) => res.Json = await req.JsonAsync<Item>());")]
    [TestCase("", "app.Post(\"/items\", async (req, res) => res.Json = await Read(req));")]
    public async Task Nothing_is_reported_when_the_document_can_describe_the_body_or_there_is_none(string openApi, string route) =>
        (await AnalyzeAsync(openApi, route)).Should().BeEmpty();

    private static Task<List<Microsoft.CodeAnalysis.Diagnostic>> AnalyzeAsync(string openApi, string route)
    {
        var source = $$"""
            using System.Threading.Tasks;
            using Bocata;
            var app = new App();
            {{openApi}}
            {{route}}
            static async Task<Item> Read(Request req) => await req.JsonAsync<Item>();
            public sealed record Item(int Id);
            """;
        return Aot.AnonymousJsonAnalyzerTests.AnalyzeSourceAsync(source, [], new OpenApiBodyAnalyzer());
    }
}
