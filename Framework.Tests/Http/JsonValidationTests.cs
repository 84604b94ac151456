using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Http;

/// <summary>Bocadillo's typesystem validation, with DataAnnotations: a 400 whose detail names each field.</summary>
public class JsonValidationTests
{
    public sealed class NewTodo
    {
        public required string Title { get; init; }

        [System.ComponentModel.DataAnnotations.Range(1, 5, ErrorMessage = "Must be between 1 and 5.")]
        public int Priority { get; init; } = 3;

        [StringLength(20, ErrorMessage = "At most 20 characters.")]
        public string? Note { get; init; }
    }

    private static App TodoApp()
    {
        var app = TestApps.Quiet();
        app.Post("/todos", async (req, res) =>
        {
            var todo = await req.JsonAsync<NewTodo>();
            res.StatusCode = 201;
            res.Json = new { todo.Title, todo.Priority };
        });
        return app;
    }

    [Test]
    public async Task A_valid_body_passes()
    {
        await using var client = TodoApp().CreateClient();
        using var response = await client.PostAsJsonAsync("/todos", new { title = "write docs", priority = 2 });
        response.StatusCode.Should().Be(HttpStatusCode.Created);
        (await response.JsonAsync()).GetProperty("title").GetString().Should().Be("write docs");
    }

    [Test]
    public async Task Failed_annotations_are_a_400_naming_each_field_in_camel_case()
    {
        await using var client = TodoApp().CreateClient();
        using var response = await client.PostAsJsonAsync("/todos", new { title = "x", priority = 9, note = new string('n', 30) });

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var body = await response.JsonAsync();
        body.GetProperty("status").GetInt32().Should().Be(400);
        var detail = body.GetProperty("detail");
        detail.GetProperty("priority").GetString().Should().Be("Must be between 1 and 5.");
        detail.GetProperty("note").GetString().Should().Be("At most 20 characters.");
    }

    [Test]
    public async Task A_missing_required_member_is_named_not_called_malformed()
    {
        await using var client = TodoApp().CreateClient();
        using var response = await client.PostAsJsonAsync("/todos", new { priority = 2 });

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await response.JsonAsync()).GetProperty("detail").GetProperty("title").GetString().Should().Be("This field is required.");
    }

    [Test]
    public async Task A_missing_required_member_and_a_failed_rule_are_reported_together()
    {
        await using var client = TodoApp().CreateClient();
        using var response = await client.PostAsJsonAsync("/todos", new { priority = 9, note = new string('n', 30) });

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var detail = (await response.JsonAsync()).GetProperty("detail");
        detail.GetProperty("title").GetString().Should().Be("This field is required.");
        detail.GetProperty("priority").GetString().Should().Be("Must be between 1 and 5.", "every failure at once, not one per request");
        detail.GetProperty("note").GetString().Should().Be("At most 20 characters.");
    }

    public sealed class Handle
    {
        [MinLength(1)]
        public string Name { get; init; } = "";

        [MinLength(2)]
        public string[] Tags { get; init; } = [];
    }

    [Test]
    public async Task A_minimum_of_one_character_reads_as_not_blank()
    {
        var app = TestApps.Quiet();
        app.Post("/handles", async (req, res) => res.Json = await req.JsonAsync<Handle>());
        await using var client = app.CreateClient();

        using var response = await client.PostAsJsonAsync("/handles", new { name = "", tags = new[] { "a" } });

        var detail = (await response.JsonAsync()).GetProperty("detail");
        detail.GetProperty("name").GetString().Should().Be("Must not be blank.");
        detail.GetProperty("tags").GetString().Should().Be("Must have at least 2 items.");
    }

    public sealed class Bid
    {
        [MaxLength(3)]
        public string[] Lots { get; init; } = [];

        [MinLength(1)]
        public List<string> Bidders { get; init; } = [];

        [Length(2, 4)]
        public int[] Amounts { get; init; } = [0, 0];

        [Length(2, 4)]
        public string Code { get; init; } = "ab";

        [MaxLength(3)]
        public string Note { get; init; } = "";
    }

    [Test]
    public async Task Length_attributes_speak_of_items_on_collections_and_characters_on_strings()
    {
        var app = TestApps.Quiet();
        app.Post("/bids", async (req, res) => res.Json = await req.JsonAsync<Bid>());
        await using var client = app.CreateClient();

        using var response = await client.PostAsJsonAsync("/bids",
            new { lots = new[] { "a", "b", "c", "d" }, bidders = Array.Empty<string>(), amounts = new[] { 1 }, code = "abcde", note = "abcd" });

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var detail = (await response.JsonAsync()).GetProperty("detail");
        detail.GetProperty("lots").GetString().Should().Be("Must have no more than 3 items.");
        detail.GetProperty("bidders").GetString().Should().Be("Must not be empty.");
        detail.GetProperty("amounts").GetString().Should().Be("Must have at least 2 items.");
        detail.GetProperty("code").GetString().Should().Be("Must have no more than 4 characters.");
        detail.GetProperty("note").GetString().Should().Be("Must have no more than 3 characters.");
    }

    [Test]
    public async Task A_form_posted_to_a_json_endpoint_is_415_not_malformed_json()
    {
        await using var client = TodoApp().CreateClient();
        using var response = await client.PostAsync("/todos", new FormUrlEncodedContent([new("title", "x")]));

        response.StatusCode.Should().Be(HttpStatusCode.UnsupportedMediaType);
        (await response.JsonAsync()).GetProperty("detail").GetString().Should().Be("Expected a JSON body: send Content-Type: application/json, not application/x-www-form-urlencoded.");
    }

    [Test]
    public async Task Malformed_json_is_still_malformed()
    {
        await using var client = TodoApp().CreateClient();
        using var response = await client.PostAsync("/todos", new StringContent("{\"title\": ", System.Text.Encoding.UTF8, "application/json"));

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await response.JsonAsync()).GetProperty("detail").GetString().Should().Be("JSON is malformed.");
    }

    /// <summary>A class-level rule: the end of a range is after its start.</summary>
    [AttributeUsage(AttributeTargets.Class)]
    public sealed class EndsAfterStartAttribute : ValidationAttribute
    {
        protected override ValidationResult? IsValid(object? value, ValidationContext validationContext) =>
            value is Booking { End: var end, Start: var start } && end <= start ? new ValidationResult("End must be after start.", ["End"]) : ValidationResult.Success;
    }

    [EndsAfterStart]
    public sealed class Booking : IValidatableObject
    {
        [Required]
        public string? Room { get; init; }

        public int Start { get; init; }

        public int End { get; init; }

        [System.ComponentModel.DataAnnotations.Range(1, 10)]
        public int Guests { get; init; } = 1;

        public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
        {
            if (Room == "closed") yield return new ValidationResult("This room is closed.", [nameof(Room)]);
        }
    }

    /// <summary>What Validator.TryValidateObject checked, in its order: property rules, then (when no [Required] failed) the
    /// class's attributes, then (when those passed) IValidatableObject — each failure under the member's JSON name.</summary>
    [TestCase("{\"room\":\"a\",\"start\":5,\"end\":3,\"guests\":20}", "end=End must be after start.;guests=Must be less than or equal to 10.")]
    [TestCase("{\"start\":5,\"end\":3}", "room=This field is required.")]
    [TestCase("{\"room\":\"closed\",\"start\":1,\"end\":3}", "room=This room is closed.")]
    [TestCase("{\"room\":\"closed\",\"start\":5,\"end\":3}", "end=End must be after start.")]
    public async Task Class_rules_and_IValidatableObject_are_checked_as_Validator_checks_them(string json, string expected)
    {
        var app = TestApps.Quiet();
        app.Post("/bookings", async (req, res) => res.Json = (await req.JsonAsync<Booking>()).Room);
        await using var client = app.CreateClient();
        using var response = await client.PostAsync("/bookings", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var detail = (await response.JsonAsync()).GetProperty("detail").EnumerateObject().Select(p => $"{p.Name}={p.Value.GetString()}").Order();
        string.Join(";", detail).Should().Be(expected);
    }

    [Test]
    public async Task A_body_that_passes_every_rule_is_read()
    {
        var app = TestApps.Quiet();
        app.Post("/bookings", async (req, res) => res.Json = (await req.JsonAsync<Booking>()).Room);
        await using var client = app.CreateClient();
        using var response = await client.PostAsync("/bookings", new StringContent("{\"room\":\"a\",\"start\":1,\"end\":3}", System.Text.Encoding.UTF8, "application/json"));

        response.StatusCode.Should().Be(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).Should().Be("\"a\"");
    }
}

/// <summary>The same DataAnnotations on route and query parameters (Bocadillo validates those with its typesystem too).</summary>
public class ParameterValidationTests
{
    [Test]
    public async Task Route_and_query_parameters_are_validated_and_every_failure_is_listed()
    {
        var app = TestApps.Quiet();
        app.Route("/greet/{name}", (Request req, Response res, [StringLength(10)] string name, [System.ComponentModel.DataAnnotations.Range(1, 100)] int times = 1) =>
            res.Json = new { name, times });
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/greet/ana?times=3")).Should().Be("""{"name":"ana","times":3}""");
        (await client.GetStringAsync("/greet/ana")).Should().Be("""{"name":"ana","times":1}""");

        var tooMany = await client.GetAsync("/greet/ana?times=1000000");
        tooMany.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await tooMany.JsonAsync()).GetProperty("detail").GetProperty("times").GetString().Should().Be("Must be less than or equal to 100.");

        var both = await client.GetAsync("/greet/" + new string('a', 11) + "?times=0");
        var detail = (await both.JsonAsync()).GetProperty("detail");
        detail.GetProperty("name").GetString().Should().Be("Must have no more than 10 characters.");
        detail.GetProperty("times").GetString().Should().Be("Must be greater than or equal to 1.");

        // A value that does not convert keeps its conversion message (not a validation one).
        (await (await client.GetAsync("/greet/ana?times=abc")).JsonAsync()).GetProperty("detail").GetProperty("times").GetString().Should().NotContain("Must be less");
    }
}

/// <summary>Bocadillo's tests/test_json_validation_errors.py: a failed attribute without its own message reads as typesystem's.</summary>
public class TypesystemMessageTests
{
    public sealed class Todo
    {
        [StringLength(50)]
        public required string Title { get; init; }

        public bool Done { get; init; }
    }

    public sealed class Limits
    {
        [MinLength(3)]
        public string? Code { get; init; }

        [System.ComponentModel.DataAnnotations.Range(1, 10)]
        public int Count { get; init; } = 1;

        [RegularExpression("^[a-z]+$")]
        public string? Slug { get; init; }
    }

    [Test]
    public async Task Handle_validation_errors()
    {
        var app = TestApps.Quiet();
        app.Post("/todos", async (req, res) => res.Json = await req.JsonAsync<Todo>());
        app.Post("/limits", async (req, res) => res.Json = await req.JsonAsync<Limits>());
        await using var client = app.CreateClient();

        var r = await client.PostAsJsonAsync("/todos", new { title = "Make sugar" });
        r.StatusCode.Should().Be(HttpStatusCode.OK);
        (await r.Content.ReadAsStringAsync()).Should().Be("""{"title":"Make sugar","done":false}""");

        r = await client.PostAsJsonAsync("/todos", new { title = string.Concat(Enumerable.Repeat("Very long string", 10)) });
        r.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await r.Content.ReadAsStringAsync()).Should().Contain(""""detail":{"title":"Must have no more than 50 characters."}"""");

        r = await client.PostAsJsonAsync("/limits", new { code = "ab", count = 0, slug = "A!" });
        var detail = (await r.JsonAsync()).GetProperty("detail");
        detail.GetProperty("code").GetString().Should().Be("Must have at least 3 characters.");
        detail.GetProperty("count").GetString().Should().Be("Must be greater than or equal to 1.");
        detail.GetProperty("slug").GetString().Should().Be("Must match the pattern /^[a-z]+$/.");
    }
}
