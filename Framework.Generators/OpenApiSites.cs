using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace Bocata.Generators;

/// <summary>What a route's handler says, read from its code for the OpenAPI document: the body it reads
/// (<c>req.JsonAsync&lt;T&gt;()</c>), what it assigns to <c>res.Json</c> (its static type), a literal <c>res.StatusCode</c>, an event
/// stream (<c>res.EventStream</c>, <c>hub.Subscribe</c>). Equal text, equal site (incremental runs reuse it).</summary>
internal sealed class OpenApiSite : IEquatable<OpenApiSite>
{
    private OpenApiSite(string location, string infer, string forward, string registrations)
    {
        Location = location;
        Infer = infer;
        Forward = forward;
        Registrations = registrations;
    }

    /// <summary>The <c>[InterceptsLocation]</c> attribute of the call (the binder's interceptor, when it writes one, has the same).</summary>
    public string Location { get; }

    /// <summary>The arguments of <c>GeneratedOpenApi.Infer(route, …)</c> after the route.</summary>
    public string Infer { get; }

    /// <summary>An interceptor that makes the call and records <see cref="Infer"/>, for a call the binder does not intercept.</summary>
    public string Forward { get; }

    /// <summary>Registration statements of the schemas it needs, one a line.</summary>
    public string Registrations { get; }

    public bool Equals(OpenApiSite? other) => other is not null && other.Location == Location && other.Infer == Infer && other.Forward == Forward && other.Registrations == Registrations;

    public override bool Equals(object? obj) => Equals(obj as OpenApiSite);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Location + Infer);

    public static OpenApiSite? From(GeneratorSyntaxContext context, CancellationToken cancellationToken)
    {
        var invocation = (InvocationExpressionSyntax)context.Node;
        if (context.SemanticModel.GetOperation(invocation, cancellationToken) is not IInvocationOperation operation) return null;
        var target = operation.TargetMethod;
        if (target.ContainingType?.ToDisplayString() != "Bocata.Router" || target.IsStatic || target.IsGenericMethod) return null;
        if (target.Parameters.Length < 2 || target.Parameters[1].Name != "handler" || target.Name == "WebSocketRoute") return null;
        var argument = operation.Arguments.FirstOrDefault(a => a.Parameter?.Name == "handler");
        if (argument is null || Body(argument.Value, context.SemanticModel.Compilation, cancellationToken) is not { } body) return null;

        var schemas = new OpenApiSchemas();
        string? request = null;
        var responses = new List<string>();
        var status = 200;
        var stream = false;
        foreach (var node in body.DescendantsAndSelf())
        {
            switch (node)
            {
                case IInvocationOperation { TargetMethod: var method } call when method.ContainingType?.ToDisplayString() == "Bocata.Request" && method.Name == "JsonAsync":
                    request = method.IsGenericMethod ? schemas.Schema(method.TypeArguments[0]) : "{}";
                    break;
                case IInvocationOperation { TargetMethod: var method } when (method.Name == "EventStream" && method.ContainingType?.ToDisplayString() == "Bocata.Response")
                                                                          || (method.Name == "Subscribe" && method.ContainingType?.ToDisplayString() == "Bocata.EventHub"):
                    stream = true;
                    break;
                case ISimpleAssignmentOperation { Target: IPropertyReferenceOperation { Property: var property } } assignment
                    when property.ContainingType?.ToDisplayString() == "Bocata.Response":
                    if (property.Name == "Json")
                    {
                        var value = assignment.Value;
                        while (value is IConversionOperation { IsImplicit: true } conversion) value = conversion.Operand;
                        var schema = value.Type is { } type && value.ConstantValue is not { HasValue: true, Value: null } ? schemas.Schema(type) : "{}";
                        if (!responses.Contains(schema)) responses.Add(schema);
                    }
                    else if (property.Name == "StatusCode" && assignment.Value.ConstantValue is { HasValue: true, Value: int code } && code is >= 200 and < 300 && status == 200)
                        status = code;
                    break;
            }
        }
        var response = responses.Count switch { 0 => null, 1 => responses[0], _ => "{\"anyOf\":[" + string.Join(",", responses) + "]}" };
        if (request is null && response is null && status == 200 && !stream) return null;

#pragma warning disable RSEXPERIMENTAL002 // GetInterceptableLocation: the supported way to write [InterceptsLocation].
        var location = context.SemanticModel.GetInterceptableLocation(invocation, cancellationToken)?.GetInterceptsLocationAttributeSyntax();
#pragma warning restore RSEXPERIMENTAL002
        if (location is null) return null;
        var infer = $"{Literal(request)}, {status}, {Literal(response)}, {(stream ? "true" : "false")}";
        return new OpenApiSite(location, infer, Forwarder(location, target, infer), string.Join("\n", schemas.Registrations()));
    }

    private static string Literal(string? json) => json is null ? "null" : OpenApiSchemas.Literal(json);

    /// <summary>The handler's body: a lambda's, or a method group's when its source is in this compilation.</summary>
    private static IOperation? Body(IOperation value, Compilation compilation, CancellationToken cancellationToken)
    {
        switch (Types.DelegateTarget(value))
        {
            case IAnonymousFunctionOperation function:
                return function.Body;
            case IMethodReferenceOperation reference:
                var syntax = reference.Method.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken);
                if (syntax is null || !compilation.ContainsSyntaxTree(syntax.SyntaxTree)) return null;
                return compilation.GetSemanticModel(syntax.SyntaxTree).GetOperation(syntax, cancellationToken);
            default:
                return null;
        }
    }

    /// <summary>An interceptor with the intercepted method's signature that makes the same call, then records what was inferred.</summary>
    private static string Forwarder(string location, IMethodSymbol target, string infer)
    {
        var code = new StringBuilder();
        foreach (var attribute in target.GetAttributes())
        {
            // The call needs what the intercepted method needs (the runtime binder's reflection): say so, as the method does.
            var name = attribute.AttributeClass?.ToDisplayString();
            if (name is "System.Diagnostics.CodeAnalysis.RequiresUnreferencedCodeAttribute" or "System.Diagnostics.CodeAnalysis.RequiresDynamicCodeAttribute"
                && attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is string message)
                code.AppendLine($"        [global::{name}({OpenApiSchemas.Literal(message)})]");
        }
        var parameters = target.Parameters.Select(p => (p.IsParams ? "params " : "") + p.Type.ToDisplayString(Types.Format) + " " + p.Name)
            .Prepend("this global::Bocata.Router router");
        var arguments = string.Join(", ", target.Parameters.Select(p => p.Name + ": " + p.Name));
        code.AppendLine($"        {location}");
        code.AppendLine($"        public static global::Bocata.Route __NAME__({string.Join(", ", parameters)})");
        code.AppendLine($"            => global::Bocata.Binding.GeneratedOpenApi.Infer(router.{target.Name}({arguments}), {infer});");
        code.AppendLine();
        return code.ToString();
    }
}
