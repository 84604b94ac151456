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
    public async Task Malformed_json_is_still_malformed()
    {
        await using var client = TodoApp().CreateClient();
        using var response = await client.PostAsync("/todos", new StringContent("{\"title\": ", System.Text.Encoding.UTF8, "application/json"));

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await response.JsonAsync()).GetProperty("detail").GetString().Should().Be("JSON is malformed.");
    }
}
