using System.Collections.Immutable;
using System.Reflection;
using System.Text.Json;
using Bocata.Generators;
using Bocata.Testing;
using FluentAssertions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using NUnit.Framework;

namespace Bocata.Tests.OpenApi;

/// <summary>The source generator's part of the document, end to end: a small app is compiled with Roslyn and Bocata's generator
/// (with the binder on, as under Native AOT, and off, as a JIT app), loaded, served, and its <c>/openapi.json</c> read. Schemas
/// come from Roslyn symbols at build time; the request body, response, status and event stream from the handlers' code.</summary>
[TestFixture(true)]
[TestFixture(false)]
public class OpenApiGeneratorTests(bool binders)
{
    private const string Source = """
        using System;
        using System.Collections.Generic;
        using System.ComponentModel.DataAnnotations;
        using System.Text.Json.Serialization;
        using System.Threading.Tasks;
        using Bocata;

        namespace Gen;

        public static class Factory
        {
            public static App Create()
            {
                var app = new App();
                app.Configure(s => { s.AccessLog = false; s.StaticDir = null; });
                app.OpenApi("Gen", "1");
                app.Post("/pets", async (req, res) =>
                {
                    var pet = await req.JsonAsync<NewPet>();
                    res.StatusCode = 201;
                    res.Json = new Pet(1, pet.Name, pet.Kind, null);
                });
                app.Get("/pets/{id}", (Request req, Response res, int id) => res.Json = new { id, tags = new[] { "a" }, owner = (Owner?)null });
                app.Get("/shapes", (req, res) => res.Json = new List<Shape>());
                app.Get("/counts", (req, res) => res.Json = new Dictionary<string, int>());
                app.Get("/feed", (req, res) => res.EventStream(Events()));
                app.Get("/typed-feed", (req, res) => res.EventStream(Events())).Events<Pet>("born").Events<Owner>("adopted");
                app.Get("/explicit", (req, res) => res.Json = 1).Produces<Pet>();
                app.Put("/raw", async (req, res) => { var any = await req.JsonAsync(); res.Text = any.ToString(); });
                app.Get("/method-group", Handlers.Get);
                return app;
            }

            private static async IAsyncEnumerable<ServerEvent> Events()
            {
                yield return new ServerEvent(data: "x");
                await Task.CompletedTask;
            }
        }

        public static class Handlers
        {
            public static void Get(Request req, Response res) => res.Json = new Owner();
        }

        public sealed record Pet(int Id, string Name, Kind Kind, string? Nickname, DateTime? Born = null);

        [JsonConverter(typeof(JsonStringEnumConverter))]
        public enum Kind { Cat, Dog }

        public enum Size { Small, Large }

        public sealed class NewPet
        {
            [Required, StringLength(40, MinimumLength = 2)] public required string Name { get; init; }
            public Kind Kind { get; init; }
            public Size Size { get; init; }
            [Range(0, 30)] public int Age { get; init; }
            [RegularExpression("^[a-z]+$")] public string? Code { get; init; }
            [MinLength(1), MaxLength(5)] public List<string> Tags { get; init; } = [];
            [JsonPropertyName("chip_id")] public Guid ChipId { get; init; }
            [JsonIgnore] public string Secret { get; init; } = "";
            public decimal Price { get; init; }
            public DateTimeOffset At { get; init; }
            public Dictionary<string, double> Scores { get; init; } = [];
        }

        public sealed class Owner
        {
            public string URLName { get; set; } = "";
        }

        [JsonDerivedType(typeof(Circle), "circle")]
        [JsonDerivedType(typeof(Square), "square")]
        public abstract class Shape
        {
            public double Area { get; set; }
        }

        public sealed class Circle : Shape { public double Radius { get; set; } }

        public sealed class Square : Shape { public double Side { get; set; } }
        """;

    private JsonElement _document;
    private JsonElement _schemas;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        var assembly = Compile(Source, binders, out var generated);
        generated.Should().Contain(s => s.Contains("GeneratedOpenApi.Infer("));
        var app = (App)assembly.GetType("Gen.Factory")!.GetMethod("Create")!.Invoke(null, null)!;
        await using var client = app.CreateClient();
        _document = await (await client.GetAsync("/openapi.json")).JsonAsync();
        _schemas = _document.GetProperty("components").GetProperty("schemas");
    }

    /// <summary>Compiles <paramref name="source"/> against Bocata with the generator and loads it.</summary>
    internal static Assembly Compile(string source, bool binders, out List<string> generated)
    {
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator).Append(typeof(App).Assembly.Location).Distinct()
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path));
        var parse = new CSharpParseOptions(LanguageVersion.Preview).WithFeatures([new("InterceptorsNamespaces", "Bocata.Generated")]);
        var name = "OpenApiGen" + (binders ? "Bound" : "Jit") + Guid.NewGuid().ToString("N")[..8];
        var compilation = CSharpCompilation.Create(name, [CSharpSyntaxTree.ParseText(source, parse)], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        var properties = new Dictionary<string, string> { ["build_property.BocataGenerateBinders"] = binders ? "true" : "false" };
        var driver = CSharpGeneratorDriver.Create([new BinderGenerator().AsSourceGenerator()], parseOptions: parse,
            optionsProvider: new Aot.AnonymousJsonAnalyzerTests.BuildProperties(properties));
        driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out _);
        generated = [.. output.SyntaxTrees.Skip(1).Select(t => t.ToString())];
        using var stream = new MemoryStream();
        var result = output.Emit(stream);
        result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Should().BeEmpty();
        return Assembly.Load(stream.ToArray());
    }

    private JsonElement Operation(string path, string method) => _document.GetProperty("paths").GetProperty(path).GetProperty(method);

    private static JsonElement Json(JsonElement responseOrBody) => responseOrBody.GetProperty("content").GetProperty("application/json").GetProperty("schema");

    private static string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Null ? "null" : e.ToString())];

    [Test]
    public void The_body_read_with_json_async_is_the_required_request_body_and_a_400_is_described()
    {
        var post = Operation("/pets", "post");
        post.GetProperty("requestBody").GetProperty("required").GetBoolean().Should().BeTrue();
        Json(post.GetProperty("requestBody")).GetProperty("$ref").GetString().Should().Be("#/components/schemas/NewPet");
        post.GetProperty("responses").TryGetProperty("400", out _).Should().BeTrue();
        Json(Operation("/raw", "put").GetProperty("requestBody")).EnumerateObject().Should().BeEmpty("JsonAsync() reads any JSON");
    }

    [Test]
    public void A_literal_status_and_res_json_make_the_response()
    {
        var responses = Operation("/pets", "post").GetProperty("responses");
        responses.TryGetProperty("200", out _).Should().BeFalse();
        Json(responses.GetProperty("201")).GetProperty("$ref").GetString().Should().Be("#/components/schemas/Pet");
        Json(Operation("/method-group", "get").GetProperty("responses").GetProperty("200")).GetProperty("$ref").GetString().Should().Be("#/components/schemas/Owner");
    }

    [Test]
    public void An_explicit_produces_replaces_what_was_inferred_for_that_status()
    {
        var schema = Json(Operation("/explicit", "get").GetProperty("responses").GetProperty("200"));
        schema.GetProperty("$ref").GetString().Should().Be("#/components/schemas/Pet");
    }

    [Test]
    public void Records_use_camel_case_names_their_parameters_are_required_and_nullable_types_allow_null()
    {
        var pet = _schemas.GetProperty("Pet");
        pet.GetProperty("type").GetString().Should().Be("object");
        pet.GetProperty("properties").EnumerateObject().Select(p => p.Name).Should().Equal("id", "name", "kind", "nickname", "born");
        Strings(pet.GetProperty("required")).Should().Equal("id", "name", "kind", "nickname");
        Strings(pet.GetProperty("properties").GetProperty("nickname").GetProperty("type")).Should().Equal("string", "null");
        var born = pet.GetProperty("properties").GetProperty("born");
        Strings(born.GetProperty("type")).Should().Equal("string", "null");
        born.GetProperty("format").GetString().Should().Be("date-time");
        _schemas.GetProperty("Owner").GetProperty("properties").TryGetProperty("urlName", out _).Should().BeTrue("System.Text.Json's camelCase lowers a leading acronym");
    }

    [Test]
    public void Enums_are_strings_with_a_string_converter_and_numbers_otherwise()
    {
        var kind = _schemas.GetProperty("Pet").GetProperty("properties").GetProperty("kind");
        kind.GetProperty("$ref").GetString().Should().Be("#/components/schemas/Kind");
        Strings(_schemas.GetProperty("Kind").GetProperty("enum")).Should().Equal("Cat", "Dog");
        _schemas.GetProperty("Size").GetProperty("type").GetString().Should().Be("integer");
        Strings(_schemas.GetProperty("Size").GetProperty("enum")).Should().Equal("0", "1");
    }

    [Test]
    public void Data_annotations_and_required_members_are_json_schema_keywords()
    {
        var newPet = _schemas.GetProperty("NewPet");
        var properties = newPet.GetProperty("properties");
        Strings(newPet.GetProperty("required")).Should().Equal("name");
        properties.GetProperty("name").GetProperty("minLength").GetInt32().Should().Be(2);
        properties.GetProperty("name").GetProperty("maxLength").GetInt32().Should().Be(40);
        properties.GetProperty("age").GetProperty("minimum").GetInt32().Should().Be(0);
        properties.GetProperty("age").GetProperty("maximum").GetInt32().Should().Be(30);
        properties.GetProperty("code").GetProperty("pattern").GetString().Should().Be("^[a-z]+$");
        properties.GetProperty("tags").GetProperty("type").GetString().Should().Be("array");
        properties.GetProperty("tags").GetProperty("minItems").GetInt32().Should().Be(1);
        properties.GetProperty("tags").GetProperty("maxItems").GetInt32().Should().Be(5);
    }

    [Test]
    public void Json_attributes_formats_and_dictionaries_are_honoured()
    {
        var properties = _schemas.GetProperty("NewPet").GetProperty("properties");
        properties.TryGetProperty("chip_id", out var chip).Should().BeTrue();
        chip.GetProperty("format").GetString().Should().Be("uuid");
        properties.TryGetProperty("secret", out _).Should().BeFalse();
        properties.GetProperty("price").GetProperty("type").GetString().Should().Be("number");
        properties.GetProperty("at").GetProperty("format").GetString().Should().Be("date-time");
        properties.GetProperty("scores").GetProperty("type").GetString().Should().Be("object");
        properties.GetProperty("scores").GetProperty("additionalProperties").GetProperty("type").GetString().Should().Be("number");
        var counts = Json(Operation("/counts", "get").GetProperty("responses").GetProperty("200"));
        counts.GetProperty("additionalProperties").GetProperty("type").GetString().Should().Be("integer");
    }

    [Test]
    public void Anonymous_types_are_inline_objects()
    {
        var schema = Json(Operation("/pets/{id}", "get").GetProperty("responses").GetProperty("200"));
        schema.GetProperty("type").GetString().Should().Be("object");
        schema.GetProperty("properties").EnumerateObject().Select(p => p.Name).Should().Equal("id", "tags", "owner");
        schema.GetProperty("properties").GetProperty("tags").GetProperty("items").GetProperty("type").GetString().Should().Be("string");
        schema.GetProperty("properties").GetProperty("owner").GetProperty("anyOf").GetArrayLength().Should().Be(2);
    }

    [Test]
    public void Derived_types_are_one_of_with_a_discriminator()
    {
        var items = Json(Operation("/shapes", "get").GetProperty("responses").GetProperty("200")).GetProperty("items");
        items.GetProperty("$ref").GetString().Should().Be("#/components/schemas/Shape");
        var shape = _schemas.GetProperty("Shape");
        shape.GetProperty("oneOf").GetArrayLength().Should().Be(2);
        shape.GetProperty("discriminator").GetProperty("propertyName").GetString().Should().Be("$type");
        shape.GetProperty("discriminator").GetProperty("mapping").GetProperty("circle").GetString().Should().Be("#/components/schemas/Circle");
        _schemas.GetProperty("Circle").GetProperty("properties").GetProperty("$type").GetProperty("const").GetString().Should().Be("circle");
        _schemas.GetProperty("Circle").GetProperty("properties").TryGetProperty("area", out _).Should().BeTrue("inherited members are serialized");
    }

    [Test]
    public void An_event_stream_is_text_event_stream_with_an_item_schema()
    {
        var feed = Operation("/feed", "get").GetProperty("responses").GetProperty("200").GetProperty("content").GetProperty("text/event-stream");
        feed.GetProperty("itemSchema").GetProperty("properties").EnumerateObject().Select(p => p.Name).Should().BeEquivalentTo("data", "event", "id", "retry");
        var typed = Operation("/typed-feed", "get").GetProperty("responses").GetProperty("200").GetProperty("content").GetProperty("text/event-stream").GetProperty("itemSchema");
        Strings(typed.GetProperty("properties").GetProperty("event").GetProperty("enum")).Should().Equal("born", "adopted");
        var refs = typed.GetProperty("properties").GetProperty("data").GetProperty("contentSchema").GetProperty("oneOf").EnumerateArray().Select(r => r.GetProperty("$ref").GetString());
        refs.Should().Equal("#/components/schemas/Pet", "#/components/schemas/Owner");
    }

    [Test]
    public void Path_parameters_of_a_generated_handler_keep_their_type()
    {
        var id = Operation("/pets/{id}", "get").GetProperty("parameters")[0];
        id.GetProperty("schema").GetProperty("type").GetString().Should().Be("integer");
    }

    [Test]
    public async Task Microsoft_OpenApi_reads_it_with_no_error()
    {
        using var stream = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(_document));
        var result = await Microsoft.OpenApi.OpenApiDocument.LoadAsync(stream, "json");
        result.Diagnostic!.Errors.Should().BeEmpty();
        result.Document!.Components!.Schemas!.Should().ContainKeys("Pet", "NewPet", "Shape", "HttpError");
    }
}
