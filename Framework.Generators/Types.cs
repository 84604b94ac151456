using System.Linq;
using Microsoft.CodeAnalysis;

namespace Bocata.Generators;

/// <summary>What generated code can name.</summary>
internal static class Types
{
    public static readonly SymbolDisplayFormat Format = SymbolDisplayFormat.FullyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    /// <summary>Whether the project publishes Native AOT (the analyzers that warn about what would fail there run only then).</summary>
    public static bool PublishesAot(Microsoft.CodeAnalysis.Diagnostics.AnalyzerOptions options) =>
        options.AnalyzerConfigOptionsProvider.GlobalOptions.TryGetValue("build_property.PublishAot", out var aot)
        && string.Equals(aot, "true", System.StringComparison.OrdinalIgnoreCase);

    /// <summary>A type generated code in the app's assembly can write: no type parameters, no anonymous types, nothing private.</summary>
    public static bool Nameable(ITypeSymbol type)
    {
        switch (type)
        {
            case ITypeParameterSymbol or IErrorTypeSymbol or IDynamicTypeSymbol or IPointerTypeSymbol or IFunctionPointerTypeSymbol:
                return false;
            case IArrayTypeSymbol array:
                return Nameable(array.ElementType);
            case INamedTypeSymbol named:
                if (named.IsAnonymousType) return false;
                for (var t = named; t is not null; t = t.ContainingType)
                    if (t.DeclaredAccessibility is not (Accessibility.Public or Accessibility.Internal or Accessibility.ProtectedOrInternal)) return false;
                return named.TypeArguments.All(Nameable);
            default:
                return false;
        }
    }
}
