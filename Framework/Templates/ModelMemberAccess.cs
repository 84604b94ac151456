using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using Fluid;

namespace Bocata;

/// <summary>
/// What a template may read: the members of the model's own types — the model's type and, through declared property and
/// field types (and collection element types), every app type it is built from — plus anonymous types and the types an app
/// allows with <see cref="Templates.Allow{T}"/>. Framework types (System, Microsoft, Fluid, Bocata) are never walked: their
/// values render through Fluid's own conversions (strings, numbers, dates, collections, dictionaries) but a template cannot
/// reach their properties (<c>{{ req.Context… }}</c>, <c>{{ type.Assembly… }}</c>), nor any object that an <c>object</c>-typed
/// member happens to hold at run time.
/// </summary>
[System.Diagnostics.CodeAnalysis.RequiresUnreferencedCode(Aot.Templates)]
internal sealed class ModelMemberAccess : MemberAccessStrategy
{
    private static readonly Assembly Bocata = typeof(ModelMemberAccess).Assembly;
    private readonly UnsafeMemberAccessStrategy _accessors = new();
    private readonly ConcurrentDictionary<Type, bool> _allowed = new();
    private readonly ConcurrentDictionary<Type, bool> _walked = new();

    public override IMemberAccessor? GetAccessor(Type type, string name)
    {
        if (!_allowed.ContainsKey(type))
        {
            // An anonymous type is a shape the app built for this view, wherever it sits in the model.
            if (!IsAnonymous(type)) return null;
            AllowGraph(type);
        }
        _accessors.IgnoreCasing = IgnoreCasing;
        _accessors.MemberNameStrategy = MemberNameStrategy;
        return _accessors.GetAccessor(type, name);
    }

    public override void Register(Type type, IEnumerable<KeyValuePair<string, IMemberAccessor>> accessors)
    {
        _accessors.Register(type, accessors);
        _allowed[type] = true;
    }

    /// <summary>Whether a template may read <paramref name="type"/>'s members (for <c>tojson</c>, which must not reveal more).</summary>
    public bool IsAllowed(Type type)
    {
        if (_allowed.ContainsKey(type)) return true;
        if (!IsAnonymous(type)) return false;
        AllowGraph(type);
        return true;
    }

    /// <summary>Allows <paramref name="type"/> whatever assembly it comes from (the app's explicit choice).</summary>
    public void Allow(Type type) => _allowed[type] = true;

    /// <summary>Allows the app types reachable from <paramref name="root"/> through declared member types.</summary>
    public void AllowGraph(Type root)
    {
        if (!_walked.TryAdd(root, true)) return;
        if (root.IsArray || root.IsPointer || root.IsByRef)
        {
            if (root.GetElementType() is { } element) AllowGraph(element);
            return;
        }
        if (IsFramework(root))
        {
            // List<Todo>, Dictionary<string, Todo>, Todo?, Task<…>: the app's types inside are still the model's own.
            foreach (var argument in root.GenericTypeArguments) AllowGraph(argument);
            return;
        }
        if (typeof(Delegate).IsAssignableFrom(root)) return;
        _allowed[root] = true;
        foreach (var property in root.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            if (property.GetIndexParameters().Length == 0 && property.GetMethod is not null) AllowGraph(property.PropertyType);
        foreach (var field in root.GetFields(BindingFlags.Public | BindingFlags.Instance)) AllowGraph(field.FieldType);
    }

    private static bool IsFramework(Type type)
    {
        if (type.Assembly == Bocata) return true;
        var name = type.Assembly.GetName().Name ?? "";
        return name is "mscorlib" or "netstandard" or "Bocata.Redis"
            || name.StartsWith("System", StringComparison.Ordinal) || name.StartsWith("Microsoft.", StringComparison.Ordinal)
            || name.StartsWith("Fluid", StringComparison.Ordinal) || name.StartsWith("Parlot", StringComparison.Ordinal);
    }

    private static bool IsAnonymous(Type type) =>
        type.IsGenericType && type.Name.Contains("AnonymousType", StringComparison.Ordinal) && type.IsDefined(typeof(CompilerGeneratedAttribute), false);
}
