namespace Bocata;

/// <summary>What the OpenAPI document says about one route: what the source generator inferred from the handler's code, and what
/// the route's fluent calls (<c>.Summary</c>, <c>.Produces&lt;T&gt;</c>, …) said. One instance is shared by a route and its copies
/// under router prefixes, so a call made after <c>IncludeRouter</c> still counts.</summary>
internal sealed class OperationInfo
{
    public string? Summary { get; set; }

    public string? Description { get; set; }

    public List<string> Tags { get; } = [];

    public bool Excluded { get; set; }

    /// <summary>Explicit responses: status, content type, the body's type.</summary>
    public List<(int Status, string ContentType, Type Type)> Produces { get; } = [];

    /// <summary>The explicit request body, or null.</summary>
    public (string ContentType, Type Type)? Accepts { get; set; }

    /// <summary>Named (or unnamed) event types of the route's event stream, in call order.</summary>
    public List<(string? Name, Type Type)> Events { get; } = [];

    /// <summary>The request body the generator found (<c>req.JsonAsync&lt;T&gt;()</c>): its schema as JSON.</summary>
    public string? InferredBody { get; set; }

    /// <summary>The response the generator found (<c>res.Json = …</c>, a literal <c>res.StatusCode</c>): status and schema as JSON
    /// (null schema: no JSON body seen).</summary>
    public List<(int Status, string? Schema)> InferredResponses { get; } = [];

    /// <summary>The generator saw <c>res.EventStream(…)</c> or <c>hub.Subscribe(…)</c> in the handler.</summary>
    public bool InferredEventStream { get; set; }

    /// <summary>The generator saw the handler read the body as JSON (so a malformed or invalid body is a 400).</summary>
    public bool ReadsJson => InferredBody is not null || Accepts is not null;
}
