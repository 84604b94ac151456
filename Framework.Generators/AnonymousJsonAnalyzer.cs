using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Bocata.Generators;

/// <summary>
/// BOCATA001: in an app that publishes Native AOT, an anonymous object given to <c>res.Json</c>, <c>new ServerEvent(json: …)</c>
/// or <c>ws.SendJsonAsync</c> would fail when serialized (reflection-based JSON is off and no JSON context can name an anonymous
/// type) — said at compile time, with the fix, instead of at run time.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class AnonymousJsonAnalyzer : DiagnosticAnalyzer
{
    public static readonly DiagnosticDescriptor Rule = new(
        "BOCATA001",
        "Anonymous object serialized as JSON in a Native AOT app",
        "{0} of an anonymous object cannot be serialized under Native AOT (no JSON context can name its type): use a record listed in your JsonSerializerContext, or a Dictionary<string, …> (docs/guide/aot.md)",
        "Bocata.Aot",
        DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "Native AOT apps serialize JSON through source-generated contexts, which need a type name.");

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rule);

    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(start =>
        {
            var options = start.Options.AnalyzerConfigOptionsProvider.GlobalOptions;
            if (!options.TryGetValue("build_property.PublishAot", out var aot) || !string.Equals(aot, "true", System.StringComparison.OrdinalIgnoreCase)) return;
            start.RegisterOperationAction(AnalyzeAssignment, OperationKind.SimpleAssignment);
            start.RegisterOperationAction(AnalyzeCreation, OperationKind.ObjectCreation);
            start.RegisterOperationAction(AnalyzeInvocation, OperationKind.Invocation);
        });
    }

    private static void AnalyzeAssignment(OperationAnalysisContext context)
    {
        var assignment = (ISimpleAssignmentOperation)context.Operation;
        if (assignment.Target is IPropertyReferenceOperation { Property: { Name: "Json" } property } && Is(property.ContainingType, "Bocata.Response")
            && IsAnonymous(assignment.Value))
            context.ReportDiagnostic(Diagnostic.Create(Rule, assignment.Value.Syntax.GetLocation(), "res.Json"));
    }

    private static void AnalyzeCreation(OperationAnalysisContext context)
    {
        var creation = (IObjectCreationOperation)context.Operation;
        if (creation.Constructor is not { } constructor || !Is(constructor.ContainingType, "Bocata.ServerEvent")) return;
        var json = creation.Arguments.FirstOrDefault(a => a.Parameter?.Name == "json");
        if (json is not null && IsAnonymous(json.Value))
            context.ReportDiagnostic(Diagnostic.Create(Rule, json.Value.Syntax.GetLocation(), "new ServerEvent(json: …)"));
    }

    private static void AnalyzeInvocation(OperationAnalysisContext context)
    {
        var invocation = (IInvocationOperation)context.Operation;
        var method = invocation.TargetMethod;
        if (method.Name != "SendJsonAsync" || !Is(method.ContainingType, "Bocata.WebSocket")) return;
        var value = invocation.Arguments.FirstOrDefault();
        if (value is not null && IsAnonymous(value.Value))
            context.ReportDiagnostic(Diagnostic.Create(Rule, value.Value.Syntax.GetLocation(), "ws.SendJsonAsync"));
    }

    private static bool Is(ITypeSymbol? type, string name) => type?.ToDisplayString() == name;

    private static bool IsAnonymous(IOperation value)
    {
        while (value is IConversionOperation conversion) value = conversion.Operand;
        return value.Type is { IsAnonymousType: true };
    }
}
