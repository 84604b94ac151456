using System.Collections.Concurrent;
using System.Text.Encodings.Web;
using Fluid;
using Microsoft.Extensions.FileProviders;

namespace Bocata;

/// <summary>Liquid templates (rendered by Fluid) from a folder: <c>res.Html = await templates.RenderAsync("index.html", new { name })</c>.
/// Output is HTML-escaped. A template reads the model's own members only (its types and the app types they are built from);
/// widen that with <see cref="Allow{T}"/>.</summary>
public sealed class Templates
{
    private static readonly FluidParser Parser = new();
    private readonly string _root;
    private readonly TemplateOptions _options;
    private readonly ModelMemberAccess _members = new();
    private readonly ConcurrentDictionary<string, (DateTime Modified, IFluidTemplate Template)> _cache = new(StringComparer.Ordinal);

    /// <summary>Uses the templates under <paramref name="directory"/> (default "templates"), relative to the <see cref="ContentRoot"/>.</summary>
    /// <param name="directory">The folder of template files, relative to the <see cref="ContentRoot"/>.</param>
    /// <param name="context">Global variables every template sees (Bocadillo's <c>Templates(context=...)</c>): an object's
    /// properties or a dictionary; a model's own member of the same name wins.</param>
    public Templates(string directory = "templates", object? context = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        _root = ContentRoot.Resolve(directory);
        if (context is IEnumerable<KeyValuePair<string, object?>> pairs)
            foreach (var (key, value) in pairs) Context[key] = value;
        else if (context is not null)
            foreach (var property in context.GetType().GetProperties()) Context[property.Name] = property.GetValue(context);
        _options = new TemplateOptions { MemberAccessStrategy = _members };
        // Jinja's (and so Bocadillo's) tojson: JSON safe to embed in a <script> — <, >, & and ' are \u-escaped, so the value can
        // never close the script element — and not HTML-encoded again, unlike Liquid's json filter whose quotes become &quot;.
        // It reveals no more than the template could read: objects of types the template may not read serialize as {}.
        var members = _members;
        var json = new System.Text.Json.JsonSerializerOptions(BocataJson.Options)
        {
            TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver
            {
                Modifiers =
                {
                    info =>
                    {
                        if (info.Kind == System.Text.Json.Serialization.Metadata.JsonTypeInfoKind.Object && !members.IsAllowed(info.Type)) info.Properties.Clear();
                    },
                },
            },
        };
        json.MakeReadOnly();
        _options.Filters.AddFilter("tojson", (input, _, _) =>
        {
            string text;
            try
            {
                text = System.Text.Json.JsonSerializer.Serialize(input.ToObjectValue(), json);
            }
            catch (NotSupportedException)
            {
                text = "null";
            }
            return new ValueTask<Fluid.Values.FluidValue>(new Fluid.Values.StringValue(text, encode: false));
        });
        if (Directory.Exists(_root)) _options.FileProvider = new PhysicalFileProvider(_root);
    }

    /// <summary>Lets templates read the public properties of <typeparamref name="T"/> wherever it appears — for a type that
    /// the model holds through an <c>object</c> or interface member, or a framework type you choose to expose.</summary>
    public Templates Allow<T>() => Allow(typeof(T));

    /// <inheritdoc cref="Allow{T}"/>
    public Templates Allow(Type type)
    {
        ArgumentNullException.ThrowIfNull(type);
        _members.Allow(type);
        return this;
    }

    /// <summary>Renders the template file <paramref name="name"/> with the properties of <paramref name="model"/> as variables.</summary>
    public async Task<string> RenderAsync(string name, object? model = null)
    {
        var template = Load(name);
        return await template.RenderAsync(CreateContext(model), HtmlEncoder.Default);
    }

    /// <summary>Renders template text (not a file) with <paramref name="model"/>.</summary>
    public async Task<string> RenderStringAsync(string source, object? model = null)
    {
        return await Parse(source).RenderAsync(CreateContext(model), HtmlEncoder.Default);
    }

    /// <summary>Global variables every template sees (a model's own member of the same name wins).</summary>
    public IDictionary<string, object?> Context { get; } = new Dictionary<string, object?>(StringComparer.Ordinal);

    /// <summary>Renders the template file <paramref name="name"/> synchronously (Bocadillo's <c>render_sync</c>).</summary>
    public string Render(string name, object? model = null) => Load(name).Render(CreateContext(model), HtmlEncoder.Default);

    /// <summary>Renders template text synchronously.</summary>
    public string RenderString(string source, object? model = null) => Parse(source).Render(CreateContext(model), HtmlEncoder.Default);

    private static IFluidTemplate Parse(string source) =>
        Parser.TryParse(source, out var template, out var error) ? template : throw new InvalidOperationException($"Template error: {error}");

    private TemplateContext CreateContext(object? model)
    {
        TemplateContext context;
        HashSet<string>? own = null;
        if (model is null) context = new TemplateContext(_options);
        else
        {
            _members.AllowGraph(model.GetType());
            context = new TemplateContext(model, _options);
            if (Context.Count > 0) own = model.GetType().GetProperties().Select(p => p.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        }
        foreach (var (key, value) in Context)
        {
            if (own is not null && own.Contains(key)) continue;
            if (value is not null) _members.AllowGraph(value.GetType());
            context.SetValue(key, value);
        }
        return context;
    }

    private IFluidTemplate Load(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var path = Path.GetFullPath(Path.Combine(_root, name));
        if (!path.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"Template name '{name}' points outside the templates folder.", nameof(name));
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"No template '{name}' in {_root} (a relative templates folder is found under ContentRoot.Directory: copy it to the output with CopyToOutputDirectory).", path);
        if (_cache.TryGetValue(path, out var cached) && cached.Modified == info.LastWriteTimeUtc) return cached.Template;
        if (!Parser.TryParse(File.ReadAllText(path), out var template, out var error))
            throw new InvalidOperationException($"Template '{name}' has an error: {error}");
        _cache[path] = (info.LastWriteTimeUtc, template);
        return template;
    }
}
