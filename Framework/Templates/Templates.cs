using System.Collections.Concurrent;
using System.Text.Encodings.Web;
using Fluid;
using Microsoft.Extensions.FileProviders;

namespace Bocata;

/// <summary>Liquid templates (rendered by Fluid) from a folder: <c>res.Html = await templates.RenderAsync("index.html", new { name })</c>.
/// Output is HTML-escaped. A template reads the model's own members only (its types and the app types they are built from);
/// widen that with <see cref="Allow{T}"/>.</summary>
[System.Diagnostics.CodeAnalysis.RequiresUnreferencedCode(Aot.Templates), System.Diagnostics.CodeAnalysis.RequiresDynamicCode(Aot.Templates)]
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
        _options = new TemplateOptions { MemberAccessStrategy = _members, MaxSteps = 1_000_000, MaxRecursion = 100 };
        // Limits for templates from users (RenderStringAsync of user text): no string grows past MaxOutputLength, through
        // append/prepend, assign or capture, and the output stops there too.
        _options.Filters.AddFilter("append", (input, arguments, _) =>
            new ValueTask<Fluid.Values.FluidValue>(new Fluid.Values.StringValue(Bounded(input.ToStringValue(), arguments.At(0).ToStringValue(), append: true))));
        _options.Filters.AddFilter("prepend", (input, arguments, _) =>
            new ValueTask<Fluid.Values.FluidValue>(new Fluid.Values.StringValue(Bounded(input.ToStringValue(), arguments.At(0).ToStringValue(), append: false))));
        _options.Assigned = (_, value, _) =>
        {
            if (value is Fluid.Values.StringValue text) CheckLength(text.ToStringValue().Length);
            return new ValueTask<Fluid.Values.FluidValue>(value);
        };
        _options.Captured = (_, value, _) =>
        {
            if (value is Fluid.Values.StringValue text) CheckLength(text.ToStringValue().Length);
            return new ValueTask<Fluid.Values.FluidValue>(value);
        };
        // Jinja's (and so Bocadillo's) tojson: JSON safe to embed in a <script> — <, >, & and ' are \u-escaped, so the value can
        // never close the script element — and not HTML-encoded again, unlike Liquid's json filter whose quotes become &quot;.
        // It reveals no more than the template could read: objects of types the template may not read serialize as {}.
        var members = _members;
        var json = new System.Text.Json.JsonSerializerOptions(BocataJson.Options)
        {
            TypeInfoResolver = System.Text.Json.Serialization.Metadata.JsonTypeInfoResolver.WithAddedModifier(BocataJson.Options.TypeInfoResolver!, info =>
            {
                if (info.Kind == System.Text.Json.Serialization.Metadata.JsonTypeInfoKind.Object && !members.IsAllowed(info.Type)) info.Properties.Clear();
            }),
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

    /// <summary>At most this many steps (statements, loop iterations) per render (default 1,000,000); past it the render
    /// fails with an <see cref="InvalidOperationException"/> that says so. 0 for no limit.</summary>
    public int MaxSteps
    {
        get => _options.MaxSteps;
        init => _options.MaxSteps = value;
    }

    /// <summary>How deep includes and renders may nest (default 100).</summary>
    public int MaxRecursion
    {
        get => _options.MaxRecursion;
        init => _options.MaxRecursion = value;
    }

    /// <summary>At most this many characters in a render's output, or in any string it builds (default 10,000,000).</summary>
    public int MaxOutputLength { get; init; } = 10_000_000;

    /// <summary>Renders the template file <paramref name="name"/> with the properties of <paramref name="model"/> as variables.</summary>
    public Task<string> RenderAsync(string name, object? model = null) => RenderBoundedAsync(Load(name), model);

    /// <summary>Renders template text (not a file) with <paramref name="model"/>.</summary>
    public Task<string> RenderStringAsync(string source, object? model = null) => RenderBoundedAsync(Parse(source), model);

    private async Task<string> RenderBoundedAsync(IFluidTemplate template, object? model)
    {
        using var output = new BoundedWriter(MaxOutputLength);
        try
        {
            await template.RenderAsync(output, HtmlEncoder.Default, CreateContext(model));
        }
        catch (InvalidOperationException e) when (e.Message.StartsWith("The maximum", StringComparison.Ordinal))
        {
            // Fluid's own words for both limits.
            throw new InvalidOperationException($"The template went over MaxSteps ({MaxSteps:N0} steps) or MaxRecursion ({MaxRecursion} nested includes): a loop too long for a page, or includes that include themselves. Raise Templates.MaxSteps or MaxRecursion if it is meant to.", e);
        }
        return output.ToString();
    }

    private string Bounded(string left, string right, bool append)
    {
        CheckLength((long)left.Length + right.Length);
        return append ? left + right : right + left;
    }

    private void CheckLength(long length)
    {
        if (length > MaxOutputLength)
            throw new InvalidOperationException($"The template built a string longer than MaxOutputLength ({MaxOutputLength:N0} characters). Raise Templates.MaxOutputLength if it is meant to.");
    }

    /// <summary>Output that stops at the limit with a clear error, instead of growing without bound.</summary>
    private sealed class BoundedWriter(int limit) : StringWriter(System.Globalization.CultureInfo.InvariantCulture)
    {
        private void Check(int more)
        {
            if (GetStringBuilder().Length + (long)more > limit)
                throw new InvalidOperationException($"The template's output is longer than MaxOutputLength ({limit:N0} characters). Raise Templates.MaxOutputLength if it is meant to.");
        }

        public override void Write(char value)
        {
            Check(1);
            base.Write(value);
        }

        public override void Write(string? value)
        {
            Check(value?.Length ?? 0);
            base.Write(value);
        }

        public override void Write(char[] buffer, int index, int count)
        {
            Check(count);
            base.Write(buffer, index, count);
        }

        public override void Write(ReadOnlySpan<char> buffer)
        {
            Check(buffer.Length);
            base.Write(buffer);
        }
    }

    /// <summary>Global variables every template sees (a model's own member of the same name wins).</summary>
    public IDictionary<string, object?> Context { get; } = new Dictionary<string, object?>(StringComparer.Ordinal);

    /// <summary>Renders the template file <paramref name="name"/> synchronously (Bocadillo's <c>render_sync</c>).</summary>
    public string Render(string name, object? model = null) => RenderBoundedAsync(Load(name), model).GetAwaiter().GetResult();

    /// <summary>Renders template text synchronously.</summary>
    public string RenderString(string source, object? model = null) => RenderBoundedAsync(Parse(source), model).GetAwaiter().GetResult();

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
