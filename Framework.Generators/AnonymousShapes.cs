using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Operations;

namespace Bocata.Generators;

/// <summary>Where an app sends a value as JSON (<c>res.Json = …</c>, <c>new ServerEvent(json: …)</c>, <c>ws.SendJsonAsync(…)</c>)
/// and, for an anonymous object, the registration that lets it serialize without reflection.</summary>
internal static class AnonymousShapes
{
    /// <summary>The value sent as JSON by <paramref name="operation"/>, with what the API is called in messages; null when
    /// the operation sends none.</summary>
    public static (IOperation Value, string What)? JsonValue(IOperation operation)
    {
        switch (operation)
        {
            case ISimpleAssignmentOperation { Target: IPropertyReferenceOperation { Property: { Name: "Json" } property } } assignment
                when Is(property.ContainingType, "Bocata.Response"):
                return (Unwrap(assignment.Value), "res.Json");
            case IObjectCreationOperation { Constructor: { } constructor } creation when Is(constructor.ContainingType, "Bocata.ServerEvent"):
                var json = creation.Arguments.FirstOrDefault(a => a.Parameter?.Name == "json");
                return json is null ? null : (Unwrap(json.Value), "new ServerEvent(json: …)");
            case IInvocationOperation { TargetMethod: { Name: "SendJsonAsync" } method } invocation when Is(method.ContainingType, "Bocata.WebSocket"):
                var value = invocation.Arguments.FirstOrDefault();
                return value is null ? null : (Unwrap(value.Value), "ws.SendJsonAsync");
            default:
                return null;
        }
    }

    /// <summary>Whether generated code can write the shape of <paramref name="type"/>: every property's type is nameable or
    /// itself an anonymous type it can write.</summary>
    public static bool CanWrite(ITypeSymbol type) =>
        type.IsAnonymousType && Properties(type).All(p => p.Type.IsAnonymousType ? CanWrite(p.Type) : Types.Nameable(p.Type));

    /// <summary>Registration statements for <paramref name="type"/> and the anonymous types of its properties (innermost first).</summary>
    public static IEnumerable<string> Registrations(ITypeSymbol type)
    {
        foreach (var property in Properties(type))
            if (property.Type.IsAnonymousType)
                foreach (var nested in Registrations(property.Type)) yield return nested;
        var chain = string.Concat(Properties(type).Select(p => $".Property({SymbolDisplay.FormatLiteral(p.Name, quote: true)}, static x => x.@{p.Name})"));
        yield return $"global::Bocata.Binding.GeneratedJson.Shape(static () => {New(type)}){chain}.Register();";
    }

    private static string New(ITypeSymbol type) =>
        "new { " + string.Join(", ", Properties(type).Select(p => $"@{p.Name} = {Default(p.Type)}")) + " }";

    private static string Default(ITypeSymbol type) =>
        type.IsAnonymousType
            ? $"global::Bocata.Binding.GeneratedJson.Default(static () => {New(type)})"
            : $"default({type.ToDisplayString(Types.Format)})!";

    private static IEnumerable<IPropertySymbol> Properties(ITypeSymbol type) =>
        type.GetMembers().OfType<IPropertySymbol>().Where(p => !p.IsStatic && p.Parameters.IsEmpty);

    private static bool Is(ITypeSymbol? type, string name) => type?.ToDisplayString() == name;

    private static IOperation Unwrap(IOperation value)
    {
        while (value is IConversionOperation conversion) value = conversion.Operand;
        return value;
    }
}
