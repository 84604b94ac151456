using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace Bocata.Generators;

/// <summary>The project's <c>JsonSerializerContext</c>s, and which types they (and Bocata's own context) can serialize.</summary>
internal static class JsonContexts
{
    /// <summary>Types Bocata's own context serializes (Framework/BocataJson.cs), by display name.</summary>
    private static readonly HashSet<string> BocataKnows = new()
    {
        "object", "string", "bool", "int", "long", "double", "float", "decimal", "System.Guid", "System.DateTime",
        "System.DateTimeOffset", "System.DateOnly", "System.TimeOnly", "System.TimeSpan", "string[]", "int[]", "double[]", "object[]",
        "System.Collections.Generic.List<string>", "System.Collections.Generic.List<object>", "System.Collections.Generic.List<object?>",
        "System.Collections.Generic.Dictionary<string, string>", "System.Collections.Generic.Dictionary<string, object>",
        "System.Collections.Generic.Dictionary<string, object?>", "System.Collections.Generic.Dictionary<string, int>",
        "System.Collections.Generic.Dictionary<string, double>", "System.Collections.Generic.Dictionary<string, string[]>",
        "System.Collections.Generic.IReadOnlyDictionary<string, string>", "System.Collections.Generic.IReadOnlyDictionary<string, object>",
        "System.Collections.Generic.IReadOnlyDictionary<string, object?>", "System.Text.Json.JsonElement", "System.Text.Json.JsonDocument",
        "System.Text.Json.Nodes.JsonNode", "System.Text.Json.Nodes.JsonObject", "System.Text.Json.Nodes.JsonArray",
    };

    /// <summary>Whether <paramref name="type"/> is a context: a non-abstract class deriving from JsonSerializerContext.</summary>
    public static bool IsContext(INamedTypeSymbol type)
    {
        if (type.IsAbstract || type.TypeKind != TypeKind.Class) return false;
        for (var t = type.BaseType; t is not null; t = t.BaseType)
            if (t.ToDisplayString() == "System.Text.Json.Serialization.JsonSerializerContext") return true;
        return false;
    }

    /// <summary>Every type the project's contexts generate metadata for: their <c>[JsonSerializable]</c> roots and what those hold.</summary>
    public static HashSet<ITypeSymbol> Known(Compilation compilation)
    {
        var known = new HashSet<ITypeSymbol>(SymbolEqualityComparer.Default);
        foreach (var type in AllTypes(compilation.Assembly.GlobalNamespace))
        {
            if (!IsContext(type)) continue;
            foreach (var attribute in type.GetAttributes())
                if (attribute.AttributeClass?.ToDisplayString() == "System.Text.Json.Serialization.JsonSerializableAttribute"
                    && attribute.ConstructorArguments.Length > 0 && attribute.ConstructorArguments[0].Value is ITypeSymbol root)
                    Add(known, root, 0);
        }
        return known;
    }

    /// <summary>Whether a value of static type <paramref name="type"/> serializes under Native AOT without a report: Bocata knows
    /// it, a context holds it, or the type says nothing at compile time (object, a type parameter, an anonymous type — BOCATA001's).</summary>
    public static bool Serializable(ITypeSymbol type, HashSet<ITypeSymbol> known)
    {
        // An interface says nothing of the value's own type, which is what res.Json serializes.
        if (type is ITypeParameterSymbol or IErrorTypeSymbol or IDynamicTypeSymbol || type.IsAnonymousType || type.TypeKind == TypeKind.Interface) return true;
        var plain = type.WithNullableAnnotation(NullableAnnotation.NotAnnotated);
        if (BocataKnows.Contains(plain.ToDisplayString()) || plain.SpecialType != SpecialType.None && plain.SpecialType != SpecialType.System_Object && plain.IsValueType) return true;
        if (plain is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable) return Serializable(nullable.TypeArguments[0], known);
        return known.Contains(plain) || known.Contains(type);
    }

    private static void Add(HashSet<ITypeSymbol> known, ITypeSymbol type, int depth)
    {
        type = type.WithNullableAnnotation(NullableAnnotation.NotAnnotated);
        if (depth > 8 || !known.Add(type)) return;
        switch (type)
        {
            case IArrayTypeSymbol array:
                Add(known, array.ElementType, depth + 1);
                return;
            case INamedTypeSymbol named:
                foreach (var argument in named.TypeArguments) Add(known, argument, depth + 1);
                if (named.ContainingNamespace?.ToDisplayString().StartsWith("System", System.StringComparison.Ordinal) == true) return;
                for (var t = named; t is not null && t.SpecialType != SpecialType.System_Object; t = t.BaseType)
                    foreach (var property in t.GetMembers().OfType<IPropertySymbol>())
                        if (!property.IsStatic && property.DeclaredAccessibility == Accessibility.Public && property.Parameters.IsEmpty)
                            Add(known, property.Type, depth + 1);
                return;
        }
    }

    private static IEnumerable<INamedTypeSymbol> AllTypes(INamespaceSymbol ns)
    {
        foreach (var type in ns.GetTypeMembers())
            foreach (var nested in WithNested(type)) yield return nested;
        foreach (var child in ns.GetNamespaceMembers())
            foreach (var type in AllTypes(child)) yield return type;
    }

    private static IEnumerable<INamedTypeSymbol> WithNested(INamedTypeSymbol type)
    {
        yield return type;
        foreach (var nested in type.GetTypeMembers())
            foreach (var inner in WithNested(nested)) yield return inner;
    }
}
