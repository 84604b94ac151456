using Bocata.Binding;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Routing;

/// <summary>Anonymous objects sent as JSON: with the source generator on (Bocata.Tests.Generated) their shapes are registered at
/// start-up and serialize through that metadata, nested ones too; without it (Bocata.Tests) through reflection. Same bytes.</summary>
public class GeneratedJsonTests
{
    [Test]
    public async Task Anonymous_objects_serialize_the_same_both_ways()
    {
        var app = TestApps.Quiet();
        app.Route("/greet/{name}", (Request req, Response res, string name) =>
            res.Json = new { greeting = $"Hello, {name}!", nested = new { length = name.Length, at = new DateOnly(2026, 12, 2) } });
        app.Route("/event", (req, res) => res.Text = new ServerEvent(json: new { temperature = 21.5, unit = "C" }).Data!);
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/greet/ana")).Should().Be("{\"greeting\":\"Hello, ana!\",\"nested\":{\"length\":3,\"at\":\"2026-12-02\"}}");
        (await client.GetStringAsync("/event")).Should().Be("{\"temperature\":21.5,\"unit\":\"C\"}");

        var shape = new { temperature = 0.0, unit = "" }.GetType();
#if BOCATA_GENERATED
        GeneratedJson.IsRegistered(shape).Should().BeTrue("the generator registered the event's anonymous type");
#else
        GeneratedJson.IsRegistered(shape).Should().BeFalse("without the generator nothing is registered");
#endif
    }

    [Test]
    public async Task The_projects_json_contexts_are_registered_by_the_generator()
    {
        var app = TestApps.Quiet();
        app.Post("/reading", async (req, res) => res.Json = await req.JsonAsync<Reading>() with { Unit = "C" });
        await using var client = app.CreateClient();

        using var answer = await client.PostAsync("/reading", new StringContent("{\"value\":21.5}", System.Text.Encoding.UTF8, "application/json"));
        (await answer.Content.ReadAsStringAsync()).Should().Be("{\"value\":21.5,\"unit\":\"C\"}");

        var fromContexts = GeneratedJson.Resolver.GetTypeInfo(typeof(Reading), new System.Text.Json.JsonSerializerOptions());
#if BOCATA_GENERATED
        fromContexts.Should().NotBeNull("the generator registered ReadingJson, so a Native AOT app needs no Settings.Json line");
#else
        fromContexts.Should().BeNull("without the generator nothing is registered (reflection serializes Reading)");
#endif
    }
}

public sealed record Reading(double Value, string? Unit);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
[System.Text.Json.Serialization.JsonSerializable(typeof(Reading))]
internal sealed partial class ReadingJson : System.Text.Json.Serialization.JsonSerializerContext;
