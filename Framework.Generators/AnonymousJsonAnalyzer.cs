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
        "{0} of an anonymous object cannot be serialized under Native AOT (no JSON context can name its type, and Bocata's generator cannot write this one's shape): use a record listed in your JsonSerializerContext, or a Dictionary<string, …> (docs/guide/aot.md)",
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
            if (!Types.PublishesAot(start.Options)) return;
            // With the generator on, an anonymous object whose shape it can write is registered (and serializes): only the
            // others are reported.
            var generated = BinderGenerator.IsEnabled(start.Options.AnalyzerConfigOptionsProvider);
            start.RegisterOperationAction(context =>
            {
                if (AnonymousShapes.JsonValue(context.Operation) is not { Value.Type: { IsAnonymousType: true } type } sent) return;
                if (generated && AnonymousShapes.CanWrite(type)) return;
                context.ReportDiagnostic(Diagnostic.Create(Rule, sent.Value.Syntax.GetLocation(), sent.What));
            }, OperationKind.SimpleAssignment, OperationKind.ObjectCreation, OperationKind.Invocation);
        });
    }
}
