using System.Collections.Concurrent;
using System.Text.Encodings.Web;
using Fluid;
using Microsoft.Extensions.FileProviders;

namespace Bocata;

/// <summary>Liquid templates (rendered by Fluid) from a folder: <c>res.Html = await templates.RenderAsync("index.html", new { name })</c>. Output is HTML-escaped.</summary>
public sealed class Templates
{
    private static readonly FluidParser Parser = new();
    private readonly string _root;
    private readonly TemplateOptions _options;
    private readonly ConcurrentDictionary<string, (DateTime Modified, IFluidTemplate Template)> _cache = new(StringComparer.Ordinal);

    /// <summary>Uses the templates under <paramref name="directory"/> (default "templates").</summary>
    public Templates(string directory = "templates")
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        _root = Path.GetFullPath(directory);
        _options = new TemplateOptions { MemberAccessStrategy = new UnsafeMemberAccessStrategy() };
        if (Directory.Exists(_root)) _options.FileProvider = new PhysicalFileProvider(_root);
    }

    /// <summary>Renders the template file <paramref name="name"/> with the properties of <paramref name="model"/> as variables.</summary>
    public async Task<string> RenderAsync(string name, object? model = null)
    {
        var template = Load(name);
        var context = model is null ? new TemplateContext(_options) : new TemplateContext(model, _options);
        return await template.RenderAsync(context, HtmlEncoder.Default);
    }

    /// <summary>Renders template text (not a file) with <paramref name="model"/>.</summary>
    public async Task<string> RenderStringAsync(string source, object? model = null)
    {
        if (!Parser.TryParse(source, out var template, out var error))
            throw new InvalidOperationException($"Template error: {error}");
        var context = model is null ? new TemplateContext(_options) : new TemplateContext(model, _options);
        return await template.RenderAsync(context, HtmlEncoder.Default);
    }

    private IFluidTemplate Load(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var path = Path.GetFullPath(Path.Combine(_root, name));
        if (!path.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"Template name '{name}' points outside the templates folder.", nameof(name));
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"No template '{name}' in {_root}.", path);
        if (_cache.TryGetValue(path, out var cached) && cached.Modified == info.LastWriteTimeUtc) return cached.Template;
        if (!Parser.TryParse(File.ReadAllText(path), out var template, out var error))
            throw new InvalidOperationException($"Template '{name}' has an error: {error}");
        _cache[path] = (info.LastWriteTimeUtc, template);
        return template;
    }
}
