using System.Text.Json;
using Bocata.Testing;
using Bocata.Tests.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.OpenApi;

/// <summary>The examples that call <c>app.OpenApi</c> serve the document their handlers describe, built by the generator as a
/// user's build runs it (TodoApi in-process, as its tests build it; Notifications as a process).</summary>
public class ExampleDocumentTests
{
    [Test]
    public async Task Todo_api_describes_its_body_status_and_responses_from_the_handlers()
    {
        var app = TodoApi.TodoApp.Create(s => s.AccessLog = false);
        await using var client = app.CreateClient();
        var document = await (await client.GetAsync("/openapi.json")).JsonAsync();

        var post = document.GetProperty("paths").GetProperty("/todos").GetProperty("post");
        post.GetProperty("summary").GetString().Should().Be("Add a todo");
        post.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema").GetProperty("$ref").GetString()
            .Should().Be("#/components/schemas/NewTodo");
        post.GetProperty("responses").GetProperty("201").GetProperty("content").GetProperty("application/json").GetProperty("schema").GetProperty("$ref").GetString()
            .Should().Be("#/components/schemas/Todo");
        var list = document.GetProperty("paths").GetProperty("/todos").GetProperty("get").GetProperty("responses").GetProperty("200")
            .GetProperty("content").GetProperty("application/json").GetProperty("schema");
        list.GetProperty("type").GetString().Should().Be("array");
        var content = document.GetProperty("components").GetProperty("schemas").GetProperty("NewTodo").GetProperty("properties").GetProperty("content");
        content.GetProperty("minLength").GetInt32().Should().Be(1);
        content.GetProperty("maxLength").GetInt32().Should().Be(200);
    }

    [Test]
    public async Task Notifications_describes_its_event_stream_with_an_item_schema()
    {
        await using var app = await ExampleProcess.StartAsync("Notifications");
        using var client = new HttpClient { BaseAddress = new Uri(app.Url) };
        var bytes = await client.GetByteArrayAsync("/openapi.json");
        var document = JsonDocument.Parse(bytes).RootElement;

        var item = document.GetProperty("paths").GetProperty("/events").GetProperty("get").GetProperty("responses").GetProperty("200")
            .GetProperty("content").GetProperty("text/event-stream").GetProperty("itemSchema");
        TestContext.Out.WriteLine(item.ToString());
        item.GetProperty("properties").GetProperty("event").GetProperty("enum").EnumerateArray().Select(e => e.GetString()).Should().Equal("message", "notification");
        item.GetProperty("properties").GetProperty("data").GetProperty("contentSchema").GetProperty("oneOf").EnumerateArray()
            .Select(r => r.GetProperty("$ref").GetString()).Should().Equal("#/components/schemas/RoomMessage", "#/components/schemas/Notification");
        document.GetProperty("components").GetProperty("schemas").GetProperty("RoomMessage").GetProperty("properties").EnumerateObject()
            .Select(p => p.Name).Should().Equal("room", "user", "text");
        using var stream = new MemoryStream(bytes);
        (await Microsoft.OpenApi.OpenApiDocument.LoadAsync(stream, "json")).Diagnostic!.Errors.Should().BeEmpty();
    }
}
