using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;

namespace Bocata.Generators;

/// <summary>
/// Silences the trim and AOT analyzer's IL2026/IL3050 on a route registration that <see cref="BinderGenerator"/> intercepted:
/// the reflective overload it names is never called (the compiled code calls the generated binder instead), as ASP.NET Core's
/// Request Delegate Generator does for MapGet. Calls the generator could not bind keep their warning, which says what to do.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class BinderSuppressor : DiagnosticSuppressor
{
    private static readonly SuppressionDescriptor Trimming = new("BOCATA_SPR1", "IL2026",
        "Bocata's source generator binds this handler at compile time: the reflective overload is not called.");

    private static readonly SuppressionDescriptor Aot = new("BOCATA_SPR2", "IL3050",
        "Bocata's source generator binds this handler at compile time: no code is generated at run time.");

    public override ImmutableArray<SuppressionDescriptor> SupportedSuppressions => ImmutableArray.Create(Trimming, Aot);

    public override void ReportSuppressions(SuppressionAnalysisContext context)
    {
        foreach (var diagnostic in context.ReportedDiagnostics)
        {
            var descriptor = diagnostic.Id == "IL2026" ? Trimming : diagnostic.Id == "IL3050" ? Aot : null;
            if (descriptor is null || diagnostic.Location.SourceTree is not { } tree) continue;
            var node = tree.GetRoot(context.CancellationToken).FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true);
            if (node.FirstAncestorOrSelf<InvocationExpressionSyntax>() is not { } invocation) continue;
#pragma warning disable RSEXPERIMENTAL002 // Which method a call is intercepted by: the question this suppressor exists to ask.
            var interceptor = context.GetSemanticModel(tree).GetInterceptorMethod(invocation, context.CancellationToken);
#pragma warning restore RSEXPERIMENTAL002
            if (interceptor?.ContainingNamespace?.ToDisplayString() == "Bocata.Generated")
                context.ReportSuppression(Suppression.Create(descriptor, diagnostic));
        }
    }
}
