using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using Bocata;

namespace TodoApi;

/// <summary>The todo API: one factory for Program.cs and the tests.</summary>
public static class TodoApp
{
    // Inputs are bounded: an example is code people copy.
    private const int MaxTodos = 1000;

    public static App Create(Action<Settings>? configure = null)
    {
        // Bocadillo's three todos, ids from 0; a new one takes the next id (Bocadillo's len + 1 skipped one).
        var todos = new ConcurrentQueue<Todo>([new Todo(0, "Go shopping"), new Todo(1, "Cook fries"), new Todo(2, "Do laundry")]);
        var nextId = 2;
        var app = new App();
        app.Configure(s =>
        {
            s.Sessions = true;
            // A real app reads SECRET_KEY from its environment; without it, this example signs with a random secret per run.
            s.SecretKey = Environment.GetEnvironmentVariable("SECRET_KEY") ?? RandomSecret();
            configure?.Invoke(s);
        });

        // GET /openapi.json describes the routes below (from what their handlers do) and GET /docs renders it.
        app.OpenApi(title: "Todos", version: "1.0");

        app.Get("/todos", (req, res) => res.Json = todos.ToArray()).Summary("List the todos").Tags("todos");

        app.Post("/todos", async (req, res) =>
        {
            var input = await req.JsonAsync<NewTodo>();   // 400 with per-field detail when invalid
            if (todos.Count >= MaxTodos) throw new HttpError(409, $"The list is full ({MaxTodos} todos).");
            var todo = new Todo(Interlocked.Increment(ref nextId), input.Content);
            todos.Enqueue(todo);
            res.StatusCode = 201;
            res.Json = todo;
        }).Summary("Add a todo").Tags("todos");

        app.Get("/unseen-todos", (req, res) =>
        {
            var lastSeen = req.Session.ContainsKey("last_id") ? req.Session.Get<int>("last_id") : -1;   // Bocadillo: get("last_id", -1)
            var unseen = todos.Where(t => t.Id > lastSeen).ToArray();
            if (unseen.Length > 0) req.Session.Set("last_id", unseen[^1].Id);
            res.Json = unseen;
        }).Summary("The todos this visitor has not seen yet").Tags("todos");

        return app;
    }

    /// <summary>No SECRET_KEY: a random secret for this run, said out loud (a published fallback would let anyone forge sessions).</summary>
    private static string RandomSecret()
    {
        Console.WriteLine("SECRET_KEY is not set: sessions are signed with a random secret for this run (they end when it stops; set SECRET_KEY to keep them).");
        return Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(48));
    }
}

/// <summary>A todo as stored and sent.</summary>
public sealed record Todo(int Id, string Content);

/// <summary>A todo as posted: validated by <c>req.JsonAsync&lt;NewTodo&gt;()</c>.</summary>
public sealed class NewTodo
{
    [Required(AllowEmptyStrings = false, ErrorMessage = "A todo needs some content.")]
    [StringLength(200, ErrorMessage = "A todo is at most 200 characters.")]
    public required string Content { get; init; }
}

/// <summary>The JSON this app reads and sends, for Native AOT: Bocata registers the project's contexts when it publishes AOT
/// (a JIT-compiled run does not need it).</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(Todo[]))]
[System.Text.Json.Serialization.JsonSerializable(typeof(NewTodo))]
internal sealed partial class TodoJson : System.Text.Json.Serialization.JsonSerializerContext;
