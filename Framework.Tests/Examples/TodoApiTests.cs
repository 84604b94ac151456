using System.Net;
using System.Net.Http.Json;
using Bocata.Testing;
using Bocata.Tests.Testing;
using TodoApi;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Examples;

/// <summary>Examples/TodoApi, Bocadillo's todo tutorial with sessions, tested through its own factory (the pattern the testing
/// guide shows) and once as the process a user runs.</summary>
public class TodoApiTests
{
    private static TestClient NewClient() => TodoApp.Create(s => s.AccessLog = false).CreateClient();

    [Test]
    public async Task Each_visitor_sees_only_the_todos_they_have_not_seen()
    {
        // Bocadillo's tests/test_sessions_example.py, over real sockets.
        await using var client = NewClient();
        using var handler = new HttpClientHandler { UseCookies = true };
        using var visitor = new HttpClient(handler) { BaseAddress = client.BaseAddress };

        (await visitor.GetStringAsync("/unseen-todos")).Should().Be("""[{"id":0,"content":"Go shopping"},{"id":1,"content":"Cook fries"},{"id":2,"content":"Do laundry"}]""");
        (await visitor.GetStringAsync("/unseen-todos")).Should().Be("[]");

        var created = await client.PostAsJsonAsync("/todos", new { content = "Eat fries" });
        created.StatusCode.Should().Be(HttpStatusCode.Created);
        (await created.Content.ReadAsStringAsync()).Should().Be("""{"id":3,"content":"Eat fries"}""");
        (await visitor.GetStringAsync("/unseen-todos")).Should().Be("""[{"id":3,"content":"Eat fries"}]""");
        (await visitor.GetStringAsync("/unseen-todos")).Should().Be("[]");
        (await client.GetStringAsync("/todos")).Should().Contain("Go shopping").And.Contain("Eat fries");
    }

    [TestCase("""{"content":""}""", "content", "A todo needs some content.")]
    [TestCase("""{}""", "content", "This field is required.")]
    public async Task An_invalid_todo_is_a_400_naming_the_field(string body, string field, string message)
    {
        await using var client = NewClient();

        var response = await client.PostAsync("/todos", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await response.JsonAsync()).GetProperty("detail").GetProperty(field).GetString().Should().Be(message);
    }

    [Test]
    public async Task It_runs_as_its_own_process()
    {
        await using var example = await ExampleProcess.StartAsync("TodoApi");
        using var http = new HttpClient { BaseAddress = new Uri(example.Url) };

        (await http.PostAsJsonAsync("/todos", new { content = "ship it" })).StatusCode.Should().Be(HttpStatusCode.Created);
        (await http.GetStringAsync("/todos")).Should().EndWith("""{"id":3,"content":"ship it"}]""");
    }
}
