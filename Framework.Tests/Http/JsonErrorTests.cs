using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Http;

public sealed record Person(string FirstName, int Age);

public sealed record Basket(string Owner, List<Line> Lines);

public sealed record Line(string Name, int Quantity);

[JsonSerializable(typeof(Person))]
internal sealed partial class PersonJsonContext : JsonSerializerContext;

/// <summary>Developer-experience issue, item 6: a body that does not fit says what and where (still 400), and the JSON options
/// are the app's, configured once.</summary>
public class JsonErrorTests
{
    private static async Task<string> DetailAsync(TestClient client, string path, string body)
    {
        var response = await client.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        response.StatusCode.Should().Be(HttpStatusCode.BadRequest, body);
        return (await response.JsonAsync()).GetProperty("detail").GetString()!;
    }

    [Test]
    public async Task Wrong_types_null_and_empty_bodies_say_what_and_where()
    {
        var app = TestApps.Quiet();
        app.Post("/people", async (req, res) => res.Json = await req.JsonAsync<Person>());
        app.Post("/baskets", async (req, res) => res.Json = await req.JsonAsync<Basket>());
        await using var client = app.CreateClient();

        (await DetailAsync(client, "/people", """{"firstName":5,"age":3}""")).Should().Be("JSON does not fit: $.firstName: expected a string.");
        (await DetailAsync(client, "/people", """{"firstName":"ana","age":"three"}""")).Should().Be("JSON does not fit: $.age: expected an integer.");
        (await DetailAsync(client, "/baskets", """{"owner":"ana","lines":[{"name":"tea","quantity":true}]}""")).Should().Be("JSON does not fit: $.lines[0].quantity: expected an integer.");
        (await DetailAsync(client, "/baskets", """{"owner":"ana","lines":{}}""")).Should().Be("JSON does not fit: $.lines: expected an array.");
        (await DetailAsync(client, "/people", "[1,2]")).Should().Be("JSON does not fit: expected an object.");
        (await DetailAsync(client, "/people", "null")).Should().Be("JSON is null: expected an object.");
        (await DetailAsync(client, "/people", "  ")).Should().Be("JSON is malformed: the body is empty.");
        (await DetailAsync(client, "/people", "{oops")).Should().Be("JSON is malformed.");
    }

    [Test]
    public async Task The_apps_json_options_are_configured_once_and_used_both_ways()
    {
        var app = TestApps.Quiet(s => s.Json.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        app.Post("/people", async (req, res) =>
        {
            var person = await req.JsonAsync<Person>();
            res.Json = person with { Age = person.Age + 1 };
        });
        await using var client = app.CreateClient();

        var response = await client.PostAsync("/people", new StringContent("""{"first_name":"ana","age":30}""", Encoding.UTF8, "application/json"));

        (await response.TextAsync()).Should().Be("""{"first_name":"ana","age":31}""");
        FluentActions.Invoking(() => app.Configure(s => s.Json.WriteIndented = true)).Should().Throw<InvalidOperationException>();
    }

    [Test]
    public async Task A_source_generated_context_can_serve_the_app()
    {
        var app = TestApps.Quiet(s => s.Json.TypeInfoResolverChain.Insert(0, PersonJsonContext.Default));
        app.Get("/person", (req, res) => res.Json = new Person("ana", 30));
        await using var client = app.CreateClient();

        // The generated metadata serves the app's options (web defaults: camelCase), without reflection for Person.
        (await client.GetStringAsync("/person")).Should().Be("""{"firstName":"ana","age":30}""");
    }

    [Test]
    public void A_body_type_as_a_handler_parameter_suggests_JsonAsync()
    {
        var app = new App();
        app.Post("/people", (Request req, Response res, Person person) => res.Json = person);
        FluentActions.Invoking(() => app.CreateClient()).Should().Throw<ArgumentException>().WithMessage("*var person = await req.JsonAsync<Person>()*");
    }
}
