namespace Bocata;

/// <summary>What a route says about itself in the OpenAPI document (<c>app.OpenApi</c>); each call returns the route for chaining.</summary>
public sealed partial class Route
{
    /// <summary>The route's entry in the OpenAPI document, shared with its copies under router prefixes.</summary>
    internal OperationInfo OpenApi { get; private init; } = new();

    /// <summary>A one-line summary of the operation in the OpenAPI document.</summary>
    public Route Summary(string summary)
    {
        OpenApi.Summary = summary ?? throw new ArgumentNullException(nameof(summary));
        return this;
    }

    /// <summary>A longer description of the operation in the OpenAPI document (CommonMark).</summary>
    public Route Description(string description)
    {
        OpenApi.Description = description ?? throw new ArgumentNullException(nameof(description));
        return this;
    }

    /// <summary>Groups the operation under <paramref name="tags"/> in the OpenAPI document and on the docs page.</summary>
    public Route Tags(params string[] tags)
    {
        ArgumentNullException.ThrowIfNull(tags);
        foreach (var tag in tags)
        {
            if (string.IsNullOrWhiteSpace(tag)) throw new ArgumentException("A tag is a non-empty name, e.g. .Tags(\"items\").", nameof(tags));
            if (!OpenApi.Tags.Contains(tag)) OpenApi.Tags.Add(tag);
        }
        return this;
    }

    /// <summary>Describes a response of <paramref name="status"/> whose body is a <typeparamref name="T"/>; replaces what was inferred
    /// from the handler for that status.</summary>
    public Route Produces<T>(int status = 200, string contentType = "application/json")
    {
        if (status is < 100 or > 599) throw new ArgumentOutOfRangeException(nameof(status), status, "Produces<T>(status): an HTTP status code between 100 and 599.");
        ArgumentException.ThrowIfNullOrWhiteSpace(contentType);
        OpenApi.Produces.RemoveAll(p => p.Status == status && p.ContentType == contentType);
        OpenApi.Produces.Add((status, contentType, typeof(T)));
        return this;
    }

    /// <summary>Describes the request body as a <typeparamref name="T"/> (for a handler that reads it through a helper the source
    /// generator cannot see); replaces what was inferred.</summary>
    public Route Accepts<T>(string contentType = "application/json")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(contentType);
        OpenApi.Accepts = (contentType, typeof(T));
        return this;
    }

    /// <summary>Describes one kind of event of the route's <c>text/event-stream</c> response: its <c>data</c> is a JSON
    /// <typeparamref name="T"/>, its <c>event</c> field <paramref name="name"/> (none: the default "message"). Call once per kind.</summary>
    public Route Events<T>(string? name = null)
    {
        if (name is not null && (name.Length == 0 || name.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0))
            throw new ArgumentException("An event name is non-empty and has no CR, LF or NUL (it is the SSE event: field).", nameof(name));
        OpenApi.Events.Add((name, typeof(T)));
        return this;
    }

    /// <summary>Leaves this route out of the OpenAPI document (it is still served).</summary>
    public Route ExcludeFromDescription()
    {
        OpenApi.Excluded = true;
        return this;
    }

    /// <summary>The names <c>.Requires</c> set on this route and its routers.</summary>
    internal IReadOnlyList<string> RequiredNames => _requires;
}
