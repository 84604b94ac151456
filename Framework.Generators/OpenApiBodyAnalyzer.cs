using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Bocata.Generators;

/// <summary>
/// BOCATA003: in an app that serves an OpenAPI document (<c>app.OpenApi</c>), a route whose handler reads the request body through
/// a helper (it passes <c>req</c> to a method that calls <c>req.JsonAsync&lt;T&gt;()</c>) is described without a body, since the
/// generator reads only the handler's own code — said at compile time, with the call to add (<c>.Accepts&lt;T&gt;()</c>).
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class OpenApiBodyAnalyzer : DiagnosticAnalyzer
{
    public static readonly DiagnosticDescriptor Rule = new(
        "BOCATA003",
        "The OpenAPI document cannot see the request body a helper reads",
        "The handler of {0} reads the request body through '{1}', which the OpenAPI description cannot see into: add .Accepts<{2}>() to the route",
        "Bocata.OpenApi",
        DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "The OpenAPI description infers a route's request body from req.JsonAsync<T>() in the handler itself; a body read elsewhere needs .Accepts<T>().",
        customTags: WellKnownDiagnosticTags.CompilationEnd);

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(Rule);

    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(start =>
        {
            var openApi = 0;
            var found = new ConcurrentBag<Diagnostic>();
            start.RegisterOperationAction(context =>
            {
                var invocation = (IInvocationOperation)context.Operation;
                var method = invocation.TargetMethod;
                if (method.Name == "OpenApi" && method.ContainingType?.ToDisplayString() == "Bocata.App")
                {
                    System.Threading.Interlocked.Exchange(ref openApi, 1);
                    return;
                }
                if (Check(invocation) is { } diagnostic) found.Add(diagnostic);
            }, OperationKind.Invocation);
            start.RegisterCompilationEndAction(end =>
            {
                if (openApi == 0) return;
                foreach (var diagnostic in found) end.ReportDiagnostic(diagnostic);
            });
        });
    }

    private static Diagnostic? Check(IInvocationOperation invocation)
    {
        var target = invocation.TargetMethod;
        if (target.ContainingType?.ToDisplayString() != "Bocata.Router" || target.IsStatic || target.IsGenericMethod || target.Name == "WebSocketRoute") return null;
        if (target.Parameters.Length < 2 || target.Parameters[1].Name != "handler") return null;
        var handler = Types.DelegateTarget(invocation.Arguments.FirstOrDefault(a => a.Parameter?.Name == "handler")?.Value);
        if (handler is not IAnonymousFunctionOperation function || function.Symbol.Parameters.Length < 1) return null;
        var request = function.Symbol.Parameters[0];
        if (request.Type.ToDisplayString() != "Bocata.Request" || ChainedAccepts(invocation.Syntax)) return null;
        var descendants = function.Body.Descendants().ToList();
        if (descendants.Any(o => o is IInvocationOperation i && IsJsonAsync(i.TargetMethod))) return null;
        foreach (var operation in descendants)
        {
            if (operation is not IInvocationOperation call || !call.Arguments.Any(a => a.Value is IParameterReferenceOperation p && SymbolEqualityComparer.Default.Equals(p.Parameter, request)))
                continue;
            var syntax = call.TargetMethod.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax();
            if (syntax is null || !invocation.SemanticModel!.Compilation.ContainsSyntaxTree(syntax.SyntaxTree)) continue;
            // The helper's own code, by syntax (an analyzer reads no other semantic model): a call of JsonAsync on anything.
            var read = syntax.DescendantNodes().OfType<InvocationExpressionSyntax>()
                .Select(i => i.Expression is MemberAccessExpressionSyntax { Name.Identifier.ValueText: "JsonAsync" } m ? m.Name : null)
                .FirstOrDefault(n => n is not null);
            if (read is null) continue;
            var type = read is GenericNameSyntax generic ? generic.TypeArgumentList.Arguments.ToString() : "System.Text.Json.JsonElement";
            var route = (invocation.Arguments.FirstOrDefault(a => a.Parameter?.Name == "pattern")?.Value.ConstantValue.Value as string) ?? "?";
            var verb = target.Name == "Route" ? "" : target.Name.ToUpperInvariant() + " ";
            return Diagnostic.Create(Rule, call.Syntax.GetLocation(), verb + route, call.TargetMethod.Name, type);
        }
        return null;
    }

    private static bool IsJsonAsync(IMethodSymbol method) => method.Name == "JsonAsync" && method.ContainingType?.ToDisplayString() == "Bocata.Request";

    /// <summary>Whether the route call is followed by <c>.Accepts&lt;T&gt;()</c> somewhere in its chain.</summary>
    private static bool ChainedAccepts(SyntaxNode call)
    {
        for (var node = call; node.Parent is MemberAccessExpressionSyntax member && member.Parent is InvocationExpressionSyntax next; node = next)
            if (member.Name.Identifier.ValueText == "Accepts") return true;
        return false;
    }
}
