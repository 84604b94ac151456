using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Bocata.Generators;

/// <summary>
/// BOCATA002: in an app that publishes Native AOT, a type sent or read as JSON (<c>res.Json</c>, <c>req.JsonAsync&lt;T&gt;()</c>,
/// <c>new ServerEvent(json: …)</c>, WebSocket and session JSON) that no <c>JsonSerializerContext</c> of the project declares
/// would fail when it is serialized (reflection-based JSON is off) — said at compile time, with the fix.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class JsonContextAnalyzer : DiagnosticAnalyzer
{
    public static readonly DiagnosticDescriptor Rule = new(
        "BOCATA002",
        "A type serialized as JSON in a Native AOT app is in no JSON context",
        "{0} uses '{1}' as JSON, but no JsonSerializerContext in this project declares it, so it cannot be serialized under Native AOT: add [JsonSerializable(typeof({1}))] to a context (Bocata registers the project's contexts when it publishes AOT; docs/guide/aot.md)",
        "Bocata.Aot",
        DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "Native AOT apps serialize JSON through source-generated contexts; a type none of them declares fails at run time.");

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rule);

    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(start =>
        {
            if (!Types.PublishesAot(start.Options)) return;
            var known = new System.Lazy<HashSet<ITypeSymbol>>(() => JsonContexts.Known(start.Compilation));
            start.RegisterOperationAction(context =>
            {
                if (Used(context.Operation) is not { } use || JsonContexts.Serializable(use.Type, known.Value)) return;
                context.ReportDiagnostic(Diagnostic.Create(Rule, context.Operation.Syntax.GetLocation(), use.What,
                    use.Type.WithNullableAnnotation(NullableAnnotation.NotAnnotated).ToDisplayString()));
            }, OperationKind.SimpleAssignment, OperationKind.ObjectCreation, OperationKind.Invocation);
        });
    }

    /// <summary>The type an operation serializes or deserializes as JSON through Bocata, and what the call is called.</summary>
    private static (ITypeSymbol Type, string What)? Used(IOperation operation)
    {
        if (AnonymousShapes.JsonValue(operation) is { Value.Type: { } sent } value) return (sent, value.What);
        if (operation is not IInvocationOperation { TargetMethod: { IsGenericMethod: true, TypeArguments.Length: 1 } method }) return null;
        var owner = method.ContainingType?.ToDisplayString();
        return (owner, method.Name) switch
        {
            ("Bocata.Request", "JsonAsync") => (method.TypeArguments[0], "req.JsonAsync<T>()"),
            ("Bocata.WebSocket", "ReceiveJsonAsync") => (method.TypeArguments[0], "ws.ReceiveJsonAsync<T>()"),
            ("Bocata.Session", "Get" or "Set") => (method.TypeArguments[0], $"session.{method.Name}<T>"),
            _ => null,
        };
    }
}
