using System.Text.Json;

namespace Bocata;

/// <summary>Writes an app's OpenAPI 3.2.0 document from its route table: the routes say their paths, methods, parameter types and
/// requirements; what the source generator inferred and the routes' fluent calls say the rest. Built once (the route table is fixed
/// once the app serves).</summary>
internal static class OpenApiDocument
{
    /// <summary>The name of Bocata's error shape under <c>components.schemas</c>.</summary>
    public const string ErrorSchema = "HttpError";

    private static readonly string[] AllMethods = ["GET", "PUT", "POST", "DELETE", "PATCH"];

    public static byte[] Build(App app, string title, string version)
    {
        var settings = app.CurrentSettings;
        var bearer = settings.Jwt is not null || settings.JwtAuthority is not null;
        var cookie = settings.AuthCookie;

        // Group operations by their OpenAPI path (two Bocata patterns may differ only in a parameter's name or :path).
        var paths = new SortedDictionary<string, List<(string Method, string Path, Route Route)>>(StringComparer.Ordinal);
        foreach (var (path, route) in app.DescribedRoutes())
        {
            if (route.OpenApi.Excluded) continue;
            var template = PathTemplate.From(path);
            foreach (var method in Expand(route.Methods))
            {
                if (!paths.TryGetValue(template, out var list)) paths[template] = list = [];
                if (!list.Exists(o => o.Method == method)) list.Add((method, path, route));
            }
        }

        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("openapi", "3.2.0");
            writer.WriteStartObject("info");
            writer.WriteString("title", title);
            writer.WriteString("version", version);
            writer.WriteEndObject();
            // Relative to where the document was fetched (OpenAPI 3.2 section 4.6): the app answers on its own host and port, so a
            // generator or the /docs page calls the server that served it, whatever host, port or proxy it was reached through.
            writer.WriteStartArray("servers");
            writer.WriteStartObject();
            writer.WriteString("url", "/");
            writer.WriteEndObject();
            writer.WriteEndArray();
            writer.WriteStartObject("paths");
            var operationIds = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (template, operations) in paths)
            {
                writer.WriteStartObject(template);
                var extra = new List<(string Method, string Path, Route Route)>();
                foreach (var operation in operations)
                {
                    if (!IsFixedField(operation.Method))
                    {
                        extra.Add(operation);
                        continue;
                    }
                    writer.WritePropertyName(operation.Method.ToLowerInvariant());
                    OperationWriter.Write(writer, operation.Method, operation.Path, operation.Route, operationIds, bearer, cookie);
                }
                if (extra.Count > 0)
                {
                    // OpenAPI 3.2: methods without a fixed field of the Path Item (PURGE, LOCK, …) go under additionalOperations.
                    writer.WriteStartObject("additionalOperations");
                    foreach (var operation in extra)
                    {
                        writer.WritePropertyName(operation.Method);
                        OperationWriter.Write(writer, operation.Method, operation.Path, operation.Route, operationIds, bearer, cookie);
                    }
                    writer.WriteEndObject();
                }
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
            WriteComponents(writer, bearer, cookie);
            writer.WriteEndObject();
        }
        return stream.ToArray();
    }

    private static bool IsFixedField(string method) => method is "GET" or "PUT" or "POST" or "DELETE" or "OPTIONS" or "PATCH" or "TRACE" or "QUERY";

    /// <summary>The methods a route is described under: HEAD is left out (GET answers it), the WebSocket handshake is not an HTTP
    /// operation, and a route for every method (<c>Handle</c>, <c>Methods.All</c>) is described under the usual ones.</summary>
    private static IEnumerable<string> Expand(IReadOnlyCollection<string> methods)
    {
        foreach (var method in methods)
        {
            if (method == "*")
            {
                foreach (var each in AllMethods) yield return each;
                continue;
            }
            if (method is "HEAD" || method == RouteTable.WebSocketMethod) continue;
            yield return method;
        }
    }

    private static void WriteComponents(Utf8JsonWriter writer, bool bearer, bool cookie)
    {
        writer.WriteStartObject("components");
        writer.WriteStartObject("schemas");
        writer.WriteStartObject(ErrorSchema);
        writer.WriteString("type", "object");
        writer.WriteString("description", "Bocata's error shape: the status line, the status code, and for a refused parameter or body a map of each field (camelCase) to its message.");
        writer.WriteStartArray("required");
        writer.WriteStringValue("error");
        writer.WriteStringValue("status");
        writer.WriteEndArray();
        writer.WriteStartObject("properties");
        writer.WriteStartObject("error");
        writer.WriteString("type", "string");
        writer.WriteStartArray("examples");
        writer.WriteStringValue("400 Bad Request");
        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.WriteStartObject("status");
        writer.WriteString("type", "integer");
        writer.WriteEndObject();
        writer.WriteStartObject("detail");
        writer.WriteString("description", "A message, or an object mapping each refused field to its message.");
        writer.WriteStartArray("type");
        writer.WriteStringValue("string");
        writer.WriteStringValue("object");
        writer.WriteEndArray();
        writer.WriteStartObject("additionalProperties");
        writer.WriteString("type", "string");
        writer.WriteEndObject();
        writer.WriteEndObject();
        writer.WriteEndObject();
        writer.WriteEndObject();
        var seen = new HashSet<string>(StringComparer.Ordinal) { ErrorSchema };
        foreach (var (name, schema) in Binding.GeneratedOpenApi.Named())
        {
            if (!seen.Add(name)) continue;
            writer.WritePropertyName(name);
            writer.WriteRawValue(schema);
        }
        writer.WriteEndObject();
        if (bearer || cookie)
        {
            writer.WriteStartObject("securitySchemes");
            if (bearer)
            {
                writer.WriteStartObject("bearer");
                writer.WriteString("type", "http");
                writer.WriteString("scheme", "bearer");
                writer.WriteString("bearerFormat", "JWT");
                writer.WriteEndObject();
            }
            if (cookie)
            {
                writer.WriteStartObject("cookie");
                writer.WriteString("type", "apiKey");
                writer.WriteString("in", "cookie");
                writer.WriteString("name", AuthCookie.Name);
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }
        writer.WriteEndObject();
    }
}
