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
}
