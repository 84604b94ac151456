namespace Bocata;

/// <summary>The messages of Bocata's trimming and Native AOT diagnostics: each says what needs reflection and what to use instead.</summary>
internal static class Aot
{
    public const string Binder =
        "Bocata binds a handler's typed parameters (route values, query defaults, services, validation attributes) with reflection and " +
        "compiled expressions when the app starts, which Native AOT cannot do. Use a (req, res) handler and read the values from the " +
        "request: (req, res) => { var id = int.Parse(req.PathParams[\"id\"]); ... } — see docs/guide/aot.md.";

    public const string Views =
        "Class-based views and [Route] methods are found and bound by reflection, which Native AOT cannot do. Register (req, res) " +
        "handlers with app.Route instead — see docs/guide/aot.md.";

    public const string Templates =
        "Liquid templates (Fluid) read the members of their models by reflection, which trimming and Native AOT cannot see. " +
        "Pass dictionaries (IDictionary<string, object?>) of strings, numbers and lists as models and test the published app — see docs/guide/aot.md.";

    public const string UrlValues =
        "UrlFor reads the properties of a values object whose type is not known at compile time. Pass an anonymous object or a " +
        "dictionary directly (UrlFor(\"post\", new { pk = 3 })) so its type is known.";
}
