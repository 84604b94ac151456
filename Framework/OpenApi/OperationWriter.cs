using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;

namespace Bocata;

/// <summary>Writes one Operation Object of the OpenAPI document: parameters from the pattern and the handler's typed parameters,
/// the body and responses from what was inferred and what the route said (an explicit call replaces the inferred body, or the
/// inferred response of the same status), the error responses binding, validation and <c>.Requires</c> can give.</summary>
internal static class OperationWriter
{
    public static void Write(Utf8JsonWriter writer, string method, string path, Route route, HashSet<string> operationIds, bool bearer, bool cookie)
    {
        var info = route.OpenApi;
        writer.WriteStartObject();
        if (info.Tags.Count > 0)
        {
            writer.WriteStartArray("tags");
            foreach (var tag in info.Tags) writer.WriteStringValue(tag);
            writer.WriteEndArray();
        }
        if (info.Summary is { } summary) writer.WriteString("summary", summary);
        if (info.Description is { } description) writer.WriteString("description", description);
        writer.WriteString("operationId", OperationId(method, path, route.Name, operationIds));

        var canFail = WriteParameters(writer, path, route);
        if (info.Accepts is { } accepts)
            RequestBody(writer, accepts.ContentType, w => TypeSchemas.Write(w, accepts.Type));
        else if (info.InferredBody is { } body)
            RequestBody(writer, "application/json", w => w.WriteRawValue(body));

        writer.WriteStartObject("responses");
        var statuses = new SortedDictionary<int, List<(string ContentType, Action<Utf8JsonWriter>? Schema)>>();
        foreach (var (status, schema) in info.InferredResponses)
        {
            if (info.Produces.Exists(p => p.Status == status)) continue;
            var list = Status(statuses, status);
            if (schema is not null) list.Add(("application/json", w => w.WriteRawValue(schema)));
        }
        foreach (var (status, contentType, type) in info.Produces)
            Status(statuses, status).Add((contentType, w => TypeSchemas.Write(w, type)));
        if ((info.Events.Count > 0 || info.InferredEventStream) && !info.Produces.Exists(p => p.ContentType == "text/event-stream"))
        {
            var list = Status(statuses, 200);
            list.RemoveAll(c => c.Item1 == "text/event-stream");
            list.Add(("text/event-stream", null));
        }
        var success = false;
        foreach (var status in statuses.Keys) success |= status is >= 200 and < 400;
        if (!success) Status(statuses, 200);
        var required = route.RequiredNames.Count > 0;
        foreach (var (status, contents) in statuses) Response(writer, status, contents, info);
        if ((canFail || info.ReadsJson) && !statuses.ContainsKey(400)) Error(writer, 400);
        if (required && !statuses.ContainsKey(401)) Error(writer, 401);
        if (required && !statuses.ContainsKey(403)) Error(writer, 403);
        writer.WriteEndObject();

        if (required && (bearer || cookie))
        {
            // Security Requirement: for schemes other than oauth2/openIdConnect the array lists the roles the operation needs
            // (OpenAPI 3.1+); "authenticated" is any signed-in user, so it is no role.
            writer.WriteStartArray("security");
            if (bearer) Requirement(writer, "bearer", route.RequiredNames);
            if (cookie) Requirement(writer, "cookie", route.RequiredNames);
            writer.WriteEndArray();
        }
        writer.WriteEndObject();
    }

    private static List<(string, Action<Utf8JsonWriter>?)> Status(SortedDictionary<int, List<(string, Action<Utf8JsonWriter>?)>> statuses, int status)
    {
        if (!statuses.TryGetValue(status, out var list)) statuses[status] = list = [];
        return list;
    }

    /// <summary>Path parameters, then query parameters; true when one of them can be refused (a 400 naming it).</summary>
    private static bool WriteParameters(Utf8JsonWriter writer, string path, Route route)
    {
        var pathParameters = PathTemplate.Parameters(path);
        var query = new List<(string Name, Type Type)>();
        foreach (var (name, type) in route.ParameterTypes)
        {
            var underlying = Nullable.GetUnderlyingType(type) ?? type;
            if (!pathParameters.Exists(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase)) && Bind.IsConvertible(underlying))
                query.Add((name, type));
        }
        if (pathParameters.Count == 0 && query.Count == 0) return false;
        var canFail = false;
        writer.WriteStartArray("parameters");
        foreach (var (name, tail) in pathParameters)
        {
            var type = !tail && route.ParameterTypes.TryGetValue(name, out var bound) ? bound : typeof(string);
            canFail |= type != typeof(string) && type != typeof(object);
            writer.WriteStartObject();
            writer.WriteString("name", name);
            writer.WriteString("in", "path");
            writer.WriteBoolean("required", true);
            if (tail) writer.WriteString("description", "The rest of the path; may contain '/'.");
            writer.WritePropertyName("schema");
            TypeSchemas.Write(writer, type, parameter: true);
            writer.WriteEndObject();
        }
        foreach (var (name, type) in query)
        {
            canFail |= type != typeof(string);
            writer.WriteStartObject();
            writer.WriteString("name", name);
            writer.WriteString("in", "query");
            writer.WriteBoolean("required", false);
            writer.WritePropertyName("schema");
            TypeSchemas.Write(writer, type, parameter: true);
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
        return canFail;
    }

    private static void RequestBody(Utf8JsonWriter writer, string contentType, Action<Utf8JsonWriter> schema)
    {
        writer.WriteStartObject("requestBody");
        writer.WriteBoolean("required", true);
        writer.WriteStartObject("content");
        writer.WriteStartObject(contentType);
        writer.WritePropertyName("schema");
        schema(writer);
        writer.WriteEndObject();
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    private static void Response(Utf8JsonWriter writer, int status, List<(string ContentType, Action<Utf8JsonWriter>? Schema)> contents, OperationInfo info)
    {
        writer.WriteStartObject(status.ToString(CultureInfo.InvariantCulture));
        writer.WriteString("description", Reason(status));
        if (contents.Count > 0)
        {
            writer.WriteStartObject("content");
            foreach (var (contentType, schema) in contents)
            {
                writer.WriteStartObject(contentType);
                if (schema is not null)
                {
                    writer.WritePropertyName("schema");
                    schema(writer);
                }
                else
                {
                    writer.WritePropertyName("itemSchema");
                    EventItemSchema.Write(writer, info.Events);
                }
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }
        writer.WriteEndObject();
    }

    private static void Error(Utf8JsonWriter writer, int status)
    {
        writer.WriteStartObject(status.ToString(CultureInfo.InvariantCulture));
        writer.WriteString("description", Reason(status));
        writer.WriteStartObject("content");
        writer.WriteStartObject("application/json");
        writer.WritePropertyName("schema");
        TypeSchemas.Ref(writer, OpenApiDocument.ErrorSchema);
        writer.WriteEndObject();
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    private static void Requirement(Utf8JsonWriter writer, string scheme, IReadOnlyList<string> names)
    {
        writer.WriteStartObject();
        writer.WriteStartArray(scheme);
        foreach (var name in names.Distinct(StringComparer.Ordinal))
            if (name != Requirements.Authenticated) writer.WriteStringValue(name);
        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private static string Reason(int status) => ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } reason ? reason : "Status " + status.ToString(CultureInfo.InvariantCulture);

    /// <summary>The route's name when it has one, else the method and the path's words (<c>GET /items/{pk}</c> is
    /// <c>getItemsPk</c>): stable across runs, made unique with a number.</summary>
    private static string OperationId(string method, string path, string? name, HashSet<string> taken)
    {
        string id;
        if (name is not null) id = name;
        else
        {
            var text = new StringBuilder(method.ToLowerInvariant());
            var upper = true;
            foreach (var c in path)
            {
                if (!char.IsAsciiLetterOrDigit(c))
                {
                    upper = true;
                    continue;
                }
                text.Append(upper ? char.ToUpperInvariant(c) : c);
                upper = false;
            }
            if (text.Length == method.Length) text.Append("Root");
            id = text.ToString();
        }
        var unique = id;
        for (var n = 2; !taken.Add(unique); n++) unique = id + n.ToString(CultureInfo.InvariantCulture);
        return unique;
    }
}
