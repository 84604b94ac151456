// Bocadillo's JSON validation example: POST /todos validates its body (a title of at most 20 characters, done false by
// default) and answers 201 with the todo, or 400 with the problem per field — no try/catch in the handler.
using System.ComponentModel.DataAnnotations;
using Bocata;

var app = new App();

// GET /openapi.json describes POST /todos (the view's body is said explicitly) and GET /docs renders it.
app.OpenApi(title: "Todos", version: "1.0");
app.Route<TodoList>("/todos").Summary("Add a todo").Accepts<Todo>().Produces<Todo>(201);

app.Run();

/// <summary>Bocadillo's class-based view for /todos.</summary>
internal sealed class TodoList
{
    public async Task Post(Request req, Response res)
    {
        // Invalid JSON raises HttpError(400) with per-field detail; the error handler answers for us.
        var todo = await req.JsonAsync<Todo>();
        // (Storing the todo is left out, as in Bocadillo's example.)
        res.Json = todo;
        res.StatusCode = 201;
    }
}

/// <summary>Bocadillo's typesystem schema: title (max_length=20), done (default False).</summary>
internal sealed class Todo
{
    [Required]
    [StringLength(20, ErrorMessage = "Must have no more than 20 characters.")]
    public required string Title { get; init; }

    public bool Done { get; init; }
}

/// <summary>The JSON this app reads and sends, for Native AOT: Bocata registers the project's contexts when it publishes AOT
/// (a JIT-compiled run, like Bocadillo's, does not need it).</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(Todo))]
internal sealed partial class TodoJson : System.Text.Json.Serialization.JsonSerializerContext;
