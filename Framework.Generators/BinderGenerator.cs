using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Bocata.Generators;

/// <summary>
/// Binds typed route handlers at compile time. Every <c>app.Route/Get/Post/Put/Patch/Delete(pattern, (Request req, Response
/// res, int id, …) => …)</c> call it can see is intercepted (C# interceptors, as ASP.NET Core's Request Delegate Generator
/// does) by a method that registers the route through <c>Bocata.Binding.GeneratedRoutes</c>: each parameter read by a typed
/// accessor, validation attributes constructed in code, the handler called through its own delegate type — no reflection and
/// no compiled expressions, so the app publishes with Native AOT. The rules and the 400 messages are the runtime binder's
/// (the same code decides, in Bocata). On when the project publishes AOT (<c>PublishAot</c>) or sets
/// <c>BocataGenerateBinders</c> to true; <c>BocataGenerateBinders=false</c> turns it off.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class BinderGenerator : IIncrementalGenerator
{
    private static readonly HashSet<string> Methods = new(StringComparer.Ordinal) { "Route", "Get", "Post", "Put", "Patch", "Delete", "WebSocketRoute" };

    private static readonly SymbolDisplayFormat TypeFormat = Types.Format;

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var enabled = context.AnalyzerConfigOptionsProvider.Select(static (options, _) => IsEnabled(options.GlobalOptions));
        var sites = context.SyntaxProvider.CreateSyntaxProvider(
                static (node, _) => node is InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax member } invocation
                    && (member.Name is GenericNameSyntax { Identifier.ValueText: "Route" or "Routes", TypeArgumentList.Arguments.Count: 1 }
                        || (member.Name.Identifier.ValueText == "Routes" && invocation.ArgumentList.Arguments.Count == 1)
                        || (invocation.ArgumentList.Arguments.Count >= 2 && Methods.Contains(member.Name.Identifier.ValueText))),
                static (context, cancellationToken) => Site.From(context, cancellationToken))
            .Where(static site => site is not null)
            .Collect();
        // OpenAPI (app.OpenApi): what each route's handler says, and the schemas of the types it and .Produces<T>() & co. name.
        var openApi = context.SyntaxProvider.CreateSyntaxProvider(
                static (node, _) => node is InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax { Name.Identifier.ValueText: "OpenApi" } },
                static (context, cancellationToken) => context.SemanticModel.GetOperation(context.Node, cancellationToken) is IInvocationOperation
                    { TargetMethod: { Name: "OpenApi" } method } && method.ContainingType?.ToDisplayString() == "Bocata.App")
            .Where(static called => called)
            .Collect()
            .Combine(context.AnalyzerConfigOptionsProvider)
            .Select(static (pair, _) => OpenApiEnabled(pair.Right.GlobalOptions, !pair.Left.IsDefaultOrEmpty));
        var described = context.SyntaxProvider.CreateSyntaxProvider(
                static (node, _) => node is InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax member } invocation
                    && invocation.ArgumentList.Arguments.Count >= 2 && Methods.Contains(member.Name.Identifier.ValueText),
                static (context, cancellationToken) => OpenApiSite.From(context, cancellationToken))
            .Where(static site => site is not null)
            .Collect();
        var named = context.SyntaxProvider.CreateSyntaxProvider(
                static (node, _) => node is InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax { Name: GenericNameSyntax { Identifier.ValueText: "Produces" or "Accepts" or "Events", TypeArgumentList.Arguments.Count: 1 } } },
                static (context, cancellationToken) => NamedSchemas(context, cancellationToken))
            .Where(static code => code is not null)
            .Collect();
        context.RegisterSourceOutput(sites.Combine(described).Combine(enabled.Combine(openApi)), static (output, pair) =>
        {
            var (binders, openApiOn) = pair.Right;
            var code = Emit(binders ? pair.Left.Left : ImmutableArray<Site?>.Empty, openApiOn ? pair.Left.Right : ImmutableArray<OpenApiSite?>.Empty);
            if (code is not null) output.AddSource("BocataBinders.g.cs", code);
        });
        context.RegisterSourceOutput(described.Combine(named).Combine(openApi), static (output, pair) =>
        {
            if (!pair.Right) return;
            var statements = pair.Left.Left.SelectMany(site => site!.Registrations.Split('\n')).Concat(pair.Left.Right.SelectMany(code => code!.Split('\n')))
                .Where(line => line.Length > 0).Distinct().ToList();
            if (statements.Count == 0) return;
            output.AddSource("BocataOpenApi.g.cs", Types.ModuleInitializer(
                "JSON Schemas of the types this app's routes read and send, for its OpenAPI document.", "BocataOpenApiSchemas", statements));
        });

        // Anonymous objects sent as JSON: their shapes registered at start-up (a module initializer), so they serialize
        // without reflection.
        var shapes = context.SyntaxProvider.CreateSyntaxProvider(
                static (node, _) => node is AssignmentExpressionSyntax or BaseObjectCreationExpressionSyntax
                    || node is InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax { Name.Identifier.ValueText: "SendJsonAsync" } },
                static (context, cancellationToken) =>
                    context.SemanticModel.GetOperation(context.Node, cancellationToken) is { } operation
                    && AnonymousShapes.JsonValue(operation) is { Value.Type: { IsAnonymousType: true } type }
                    && AnonymousShapes.CanWrite(type)
                        ? string.Join("\n", AnonymousShapes.Registrations(type))
                        : null)
            .Where(static code => code is not null)
            .Collect();
        // The project's JSON contexts: registered too, so an AOT app's own types serialize without a line of set-up.
        var contexts = context.SyntaxProvider.CreateSyntaxProvider(
                static (node, _) => node is ClassDeclarationSyntax { BaseList: not null, AttributeLists.Count: > 0 } declaration
                    && declaration.Modifiers.Any(m => m.IsKind(SyntaxKind.PartialKeyword)),
                static (context, cancellationToken) =>
                    context.SemanticModel.GetDeclaredSymbol(context.Node, cancellationToken) is INamedTypeSymbol type
                    && JsonContexts.IsContext(type) && Types.Nameable(type) && !type.IsGenericType
                    && type.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == "System.Text.Json.Serialization.JsonSerializableAttribute")
                        ? $"global::Bocata.Binding.GeneratedJson.Context({type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat)}.Default);"
                        : null)
            .Where(static code => code is not null)
            .Collect();
        context.RegisterSourceOutput(shapes.Combine(contexts).Combine(enabled), static (output, pair) =>
        {
            var all = pair.Left.Left.Concat(pair.Left.Right).ToImmutableArray();
            if (!pair.Right || all.IsDefaultOrEmpty) return;
            var statements = all.SelectMany(code => code!.Split('\n')).Distinct().ToList();
            output.AddSource("BocataJsonShapes.g.cs", Types.ModuleInitializer(
                "JSON shapes of the anonymous objects this app sends, and its JSON contexts.", "BocataJsonShapes", statements));
        });
    }

    /// <summary>Whether the generator runs for this project (see the class summary).</summary>
    internal static bool IsEnabled(AnalyzerConfigOptionsProvider options) => IsEnabled(options.GlobalOptions);

    private static bool IsEnabled(AnalyzerConfigOptions options)
    {
        options.TryGetValue("build_property.BocataGenerateBinders", out var own);
        if (string.Equals(own, "false", StringComparison.OrdinalIgnoreCase)) return false;
        if (string.Equals(own, "true", StringComparison.OrdinalIgnoreCase)) return true;
        return options.TryGetValue("build_property.PublishAot", out var aot) && string.Equals(aot, "true", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>OpenAPI descriptions are written when the app calls <c>app.OpenApi</c> (or <c>BocataOpenApi</c> is true);
    /// <c>BocataOpenApi=false</c> turns them off.</summary>
    private static bool OpenApiEnabled(AnalyzerConfigOptions options, bool called)
    {
        options.TryGetValue("build_property.BocataOpenApi", out var own);
        if (string.Equals(own, "false", StringComparison.OrdinalIgnoreCase)) return false;
        return called || string.Equals(own, "true", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The schema registrations a <c>.Produces&lt;T&gt;()</c>, <c>.Accepts&lt;T&gt;()</c> or <c>.Events&lt;T&gt;()</c> call needs.</summary>
    private static string? NamedSchemas(GeneratorSyntaxContext context, CancellationToken cancellationToken)
    {
        if (context.SemanticModel.GetOperation(context.Node, cancellationToken) is not IInvocationOperation { TargetMethod: { IsGenericMethod: true } method }
            || method.ContainingType?.ToDisplayString() != "Bocata.Route") return null;
        var type = method.TypeArguments[0];
        var schemas = new OpenApiSchemas();
        var schema = schemas.Schema(type);
        var lines = schemas.Registrations().ToList();
        if (!schema.StartsWith("{\"$ref\"", StringComparison.Ordinal) && Types.Nameable(type))
            lines.Add($"global::Bocata.Binding.GeneratedOpenApi.Schema(typeof({type.WithNullableAnnotation(NullableAnnotation.NotAnnotated).ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat)}), null, {OpenApiSchemas.Literal(schema)});");
        return string.Join("\n", lines);
    }

    private static string? Emit(ImmutableArray<Site?> sites, ImmutableArray<OpenApiSite?> described)
    {
        if (sites.IsDefaultOrEmpty && described.IsDefaultOrEmpty) return null;
        var descriptions = new Dictionary<string, OpenApiSite>(StringComparer.Ordinal);
        foreach (var site in described) descriptions[site!.Location] = site;
        var code = new StringBuilder();
        code.AppendLine("// <auto-generated/> by Bocata.Generators: route handlers bound at compile time.");
        code.AppendLine("#nullable enable");
        code.AppendLine("namespace System.Runtime.CompilerServices");
        code.AppendLine("{");
        code.AppendLine("    [global::System.AttributeUsage(global::System.AttributeTargets.Method, AllowMultiple = true)]");
        code.AppendLine("    file sealed class InterceptsLocationAttribute : global::System.Attribute");
        code.AppendLine("    {");
        code.AppendLine("        public InterceptsLocationAttribute(int version, string data) { }");
        code.AppendLine("    }");
        code.AppendLine("}");
        code.AppendLine();
        code.AppendLine("namespace Bocata.Generated");
        code.AppendLine("{");
        code.AppendLine("    file static class BocataBinders");
        code.AppendLine("    {");
        var index = 0;
        foreach (var site in sites.Distinct())
        {
            // A call the binder intercepts records what OpenAPI inferred in the same interceptor (a location has one interceptor).
            var text = site!.Code;
            if (descriptions.TryGetValue(site.Location, out var description) && text.Contains(OpenApiOpen))
            {
                text = text.Replace(OpenApiOpen, "global::Bocata.Binding.GeneratedOpenApi.Infer(").Replace(OpenApiClose, ", " + description.Infer + ")");
            }
            descriptions.Remove(site.Location);
            code.Append(text.Replace(OpenApiOpen, "").Replace(OpenApiClose, "").Replace("__NAME__", "Bind" + index.ToString(CultureInfo.InvariantCulture)));
            index++;
        }
        foreach (var description in descriptions.Values.OrderBy(d => d.Location, StringComparer.Ordinal))
        {
            code.Append(description.Forward.Replace("__NAME__", "Describe" + index.ToString(CultureInfo.InvariantCulture)));
            index++;
        }
        code.AppendLine("        private static T Cast<T>(global::System.Delegate handler, T prototype) where T : global::System.Delegate => (T)handler;");
        code.AppendLine("    }");
        code.AppendLine("}");
        return code.ToString();
    }

    private const string OpenApiOpen = "__OPENAPI_OPEN__";
    private const string OpenApiClose = "__OPENAPI_CLOSE__";

    /// <summary>One intercepted call, as the text of its interceptor (equal text, equal site: incremental runs reuse it).</summary>
    private sealed class Site : IEquatable<Site>
    {
        private Site(string code)
        {
            Code = code;
            Location = code.Substring(code.IndexOf("[", StringComparison.Ordinal), code.IndexOf("\n", code.IndexOf("[", StringComparison.Ordinal), StringComparison.Ordinal) - code.IndexOf("[", StringComparison.Ordinal)).TrimEnd('\r');
        }

        public string Code { get; }

        /// <summary>The first <c>[InterceptsLocation]</c> attribute of the code (the call it intercepts).</summary>
        public string Location { get; }

        public bool Equals(Site? other) => other is not null && other.Code == Code;

        public override bool Equals(object? obj) => Equals(obj as Site);

        public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Code);

        public static Site? From(GeneratorSyntaxContext context, CancellationToken cancellationToken)
        {
            var invocation = (InvocationExpressionSyntax)context.Node;
            if (context.SemanticModel.GetOperation(invocation, cancellationToken) is not IInvocationOperation operation) return null;
            var target = operation.TargetMethod;
            if (target.ContainingType?.ToDisplayString() != "Bocata.Router" || target.IsStatic) return null;
            if (target.IsGenericMethod) return ClassSite(context, invocation, target, target.TypeArguments.Length == 1 ? target.TypeArguments[0] : null, cancellationToken);
            if (target.Name == "Routes")
            {
                // Routes(typeof(Handlers)): the form for static classes.
                var type = operation.Arguments.Length == 1 && operation.Arguments[0].Value is ITypeOfOperation typeOf ? typeOf.TypeOperand : null;
                return type is null ? null : ClassSite(context, invocation, target, type, cancellationToken);
            }
            if (target.Parameters.Length < 2 || target.Parameters[1].Name != "handler" || target.Parameters[1].Type.ToDisplayString() != "System.Delegate") return null;
            var argument = operation.Arguments.FirstOrDefault(a => a.Parameter?.Name == "handler");
            if (argument is null || Lambda(argument.Value) is not { } handler) return null;
            var webSocket = target.Name == "WebSocketRoute";
            if (webSocket ? !BindableWebSocket(handler) : !Bindable(handler)) return null;
            if (InterceptsLocation(context, invocation, cancellationToken) is not { } attribute) return null;
            return new Site(webSocket ? WebSocketInterceptor(attribute, target, handler) : Interceptor(attribute, target, handler));
        }

        /// <summary>The <c>[InterceptsLocation]</c> attribute for this call, or null when it cannot be intercepted.</summary>
        private static string? InterceptsLocation(GeneratorSyntaxContext context, InvocationExpressionSyntax invocation, CancellationToken cancellationToken)
        {
#pragma warning disable RSEXPERIMENTAL002 // GetInterceptableLocation: the supported way to write [InterceptsLocation].
            return context.SemanticModel.GetInterceptableLocation(invocation, cancellationToken)?.GetInterceptsLocationAttributeSyntax();
#pragma warning restore RSEXPERIMENTAL002
        }

        /// <summary>The lambda passed as the handler (a method group or a delegate variable is left to the runtime binder).</summary>
        private static IMethodSymbol? Lambda(IOperation value) =>
            Types.DelegateTarget(value) is IAnonymousFunctionOperation function ? function.Symbol : null;

        /// <summary>(Request req, Response res, …) with parameters and a result that generated code can name and pass.</summary>
        private static bool Bindable(IMethodSymbol handler)
        {
            var parameters = handler.Parameters;
            if (parameters.Length < 2 || handler.IsGenericMethod) return false;
            if (parameters[0].Type.ToDisplayString() != "Bocata.Request" || parameters[1].Type.ToDisplayString() != "Bocata.Response") return false;
            return NameableParameters(handler) && (handler.ReturnsVoid || Types.Nameable(handler.ReturnType));
        }

        /// <summary>(WebSocket ws, …) returning Task, ValueTask or nothing (any other result is the runtime binder's error to give).</summary>
        private static bool BindableWebSocket(IMethodSymbol handler)
        {
            var parameters = handler.Parameters;
            if (parameters.Length < 2 || handler.IsGenericMethod || parameters[0].Type.ToDisplayString() != "Bocata.WebSocket") return false;
            return NameableParameters(handler)
                && (handler.ReturnsVoid || handler.ReturnType.ToDisplayString() is "System.Threading.Tasks.Task" or "System.Threading.Tasks.ValueTask");
        }

        private static bool NameableParameters(IMethodSymbol handler)
        {
            foreach (var parameter in handler.Parameters)
            {
                if (parameter.RefKind != RefKind.None || parameter.IsParams || !Types.Nameable(parameter.Type)) return false;
                if (parameter.HasExplicitDefaultValue && DefaultLiteral(parameter) is null) return false;
                foreach (var attribute in parameter.GetAttributes())
                    if (IsValidation(attribute) && !Types.Nameable(attribute.AttributeClass!)) return false;
            }
            return true;
        }

        private static bool IsValidation(AttributeData attribute)
        {
            for (var type = attribute.AttributeClass; type is not null; type = type.BaseType)
                if (type.ToDisplayString() == "System.ComponentModel.DataAnnotations.ValidationAttribute") return true;
            return false;
        }

        private static string Interceptor(string interceptsLocation, IMethodSymbol target, IMethodSymbol handler)
        {
            var code = new StringBuilder();
            var methods = target.Parameters.Any(p => p.Name == "methods") ? "methods" : $"new string[] {{ \"{target.Name.ToUpperInvariant()}\" }}";
            var name = target.Parameters.Any(p => p.Name == "name") ? "name" : "null";
            Header(code, interceptsLocation, "global::Bocata.Route", target);
            code.AppendLine("        {");
            code.AppendLine(TypedHandler(handler));
            code.AppendLine($"            return {OpenApiOpen}global::Bocata.Binding.GeneratedRoutes.Add(router, pattern, handler, {methods}, {name}, {TypeOfResult(handler)},");
            code.Append($"                {NamedTypes(new[] { handler }, skip: 2)}, ");
            BoundHandler(code, handler, args => $"typed({args})");
            code.AppendLine($"){OpenApiClose};");
            code.AppendLine("        }");
            code.AppendLine();
            return code.ToString();
        }

        /// <summary><c>binder => { …readers…; return (req, res) => { …read, check, call… }; }</c> for a (Request, Response, …) method;
        /// <paramref name="callee"/> makes the call from the argument list.</summary>
        private static void BoundHandler(StringBuilder code, IMethodSymbol method, Func<string, string> callee)
        {
            var parameters = method.Parameters;
            code.AppendLine("binder =>");
            code.AppendLine("            {");
            ParameterReaders(code, parameters, 2);
            code.AppendLine("                var check = binder.NeedsCheck;");
            code.AppendLine("                return (req, res) =>");
            code.AppendLine("                {");
            var args = new List<string> { "req", "res" };
            for (var i = 2; i < parameters.Length; i++)
            {
                code.AppendLine($"                    var a{i} = p{i}(req);");
                args.Add("a" + i.ToString(CultureInfo.InvariantCulture));
            }
            code.AppendLine("                    if (check) global::Bocata.Binding.RouteBinder.Check(req);");
            code.AppendLine("                    " + Call(method, callee(string.Join(", ", args))));
            code.AppendLine("                };");
            code.Append("            }");
        }

        private static readonly string[] ViewMethods = { "Get", "Head", "Post", "Put", "Patch", "Delete", "Options" };

        /// <summary><c>Route&lt;TView&gt;(pattern, name)</c>, <c>Route&lt;TView&gt;()</c> (its <c>[Route]</c>) or <c>Routes&lt;TClass&gt;()</c> (its static
        /// <c>[Route]</c> methods): every handler method bound, hooks constructed in code. Null (the runtime binder's, with its
        /// errors and warning) when something cannot be written: a method it cannot bind, a hook it cannot construct.</summary>
        private static Site? ClassSite(GeneratorSyntaxContext context, InvocationExpressionSyntax invocation, IMethodSymbol target, ITypeSymbol? typeArgument, CancellationToken cancellationToken)
        {
            if (typeArgument is not INamedTypeSymbol type || !Types.Nameable(type) || type.IsGenericType) return null;
            var statics = target.Name == "Routes";
            if (!statics && (target.Name != "Route" || type.IsAbstract || type.TypeKind != TypeKind.Class)) return null;
            if (InterceptsLocation(context, invocation, cancellationToken) is not { } attribute) return null;
            var code = statics ? StaticsInterceptor(attribute, target, type) : ViewInterceptor(attribute, target, type);
            return code is null ? null : new Site(code);
        }

        private static string? ViewInterceptor(string interceptsLocation, IMethodSymbol target, INamedTypeSymbol view)
        {
            var methods = view.GetMembers().OfType<IMethodSymbol>()
                .Where(m => m.MethodKind == MethodKind.Ordinary && !m.IsStatic && m.DeclaredAccessibility == Accessibility.Public).ToList();
            var handle = methods.Where(m => m.Name == "Handle").ToList();
            var chosen = handle.Count > 0 ? handle.Take(1).Select(m => ("*", m)).ToList()
                : methods.Where(m => Array.IndexOf(ViewMethods, m.Name) >= 0).Select(m => (m.Name.ToUpperInvariant(), m)).ToList();
            if (handle.Count > 1 || chosen.Select(c => c.Item1).Distinct().Count() != chosen.Count) return null;
            if (chosen.Any(c => !Bindable(c.m))) return null;
            var classBefore = Hooks(view, "Bocata.BeforeAttribute");
            var classAfter = Hooks(view, "Bocata.AfterAttribute");
            if (classBefore is null || classAfter is null) return null;

            string pattern, name;
            if (target.Parameters.Length == 0)
            {
                // Route<TView>(): the view's [Route("...")] (without one, the runtime call says what to add).
                var route = view.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == "Bocata.RouteAttribute");
                if (route is null || route.ConstructorArguments.Length == 0 || route.ConstructorArguments[0].Value is not string routePattern) return null;
                pattern = Literal(routePattern);
                name = NamedString(route, "Name");
            }
            else
            {
                pattern = "pattern";
                name = target.Parameters.Any(p => p.Name == "name") ? "name" : "null";
            }

            var code = new StringBuilder();
            var viewType = view.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);
            Header(code, interceptsLocation, "global::Bocata.Route", target);
            code.AppendLine("        {");
            code.AppendLine($"            return global::Bocata.Binding.GeneratedRoutes.AddView(router, {pattern}, {name}, {NamedTypes(chosen.Select(c => c.m), skip: 2)}");
            foreach (var (verb, method) in chosen)
            {
                // Bocadillo's order: the class's before hooks, then the method's; the method's after hooks, then the class's.
                var methodBefore = Hooks(method, "Bocata.BeforeAttribute");
                var methodAfter = Hooks(method, "Bocata.AfterAttribute");
                if (methodBefore is null || methodAfter is null) return null;
                // [Requires] first, the class's then the method's: who may call is decided before any hook runs.
                var requires = Requirements(view).Concat(Requirements(method)).ToList();
                var before = requires.Concat(classBefore).Concat(methodBefore).ToList();
                var after = methodAfter.Concat(classAfter).ToList();
                code.Append($"            , {Handler(verb, view.Name + "." + method.Name, method, before, after)}");
                BoundHandler(code, method, args => $"global::Bocata.Binding.GeneratedRoutes.View<{viewType}>(req).{method.Name}({args})");
                code.AppendLine(")");
            }
            code.AppendLine("            );");
            code.AppendLine("        }");
            code.AppendLine();
            return code.ToString();
        }

        private static string? StaticsInterceptor(string interceptsLocation, IMethodSymbol target, INamedTypeSymbol type)
        {
            var code = new StringBuilder();
            Header(code, interceptsLocation, "global::System.Collections.Generic.IReadOnlyList<global::Bocata.Route>", target);
            code.AppendLine("        {");
            code.AppendLine("            return new global::Bocata.Route[]");
            code.AppendLine("            {");
            var count = 0;
            foreach (var method in type.GetMembers().OfType<IMethodSymbol>().Where(m => m.MethodKind == MethodKind.Ordinary && m.IsStatic))
            {
                var route = method.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == "Bocata.RouteAttribute");
                if (route is null) continue;
                if (method.DeclaredAccessibility is not (Accessibility.Public or Accessibility.Internal) || !Bindable(method)) return null;
                if (route.ConstructorArguments.Length == 0 || route.ConstructorArguments[0].Value is not string pattern) return null;
                var verbs = route.ConstructorArguments.Length > 1 && route.ConstructorArguments[1].Kind == TypedConstantKind.Array
                    ? route.ConstructorArguments[1].Values.Select(v => v.Value as string).ToList() : new List<string?>();
                if (verbs.Any(v => v is null)) return null;
                var before = Hooks(method, "Bocata.BeforeAttribute");
                var after = Hooks(method, "Bocata.AfterAttribute");
                if (before is null || after is null) return null;
                before = Requirements(method).Concat(before).ToList();
                var callee = type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat) + "." + method.Name;
                code.AppendLine($"                global::Bocata.Binding.GeneratedRoutes.AddStatic(router, {Literal(pattern)}, {NamedString(route, "Name")},");
                code.AppendLine($"                    new string[] {{ {string.Join(", ", verbs.Select(v => Literal(v!)))} }}, {NamedTypes(new[] { method }, skip: 2)},");
                code.Append($"                    {Handler("*", type.Name + "." + method.Name, method, before, after)}");
                BoundHandler(code, method, args => $"{callee}({args})");
                code.AppendLine(")),");
                count++;
            }
            // None: the runtime call throws its error (the class has no [Route] method).
            if (count == 0) return null;
            code.AppendLine("            };");
            code.AppendLine("        }");
            code.AppendLine();
            return code.ToString();
        }

        /// <summary><c>new GeneratedHandler(method, describe, typeof(result), before hooks, after hooks, </c> (the binder follows).</summary>
        private static string Handler(string verb, string describe, IMethodSymbol method, List<string> before, List<string> after) =>
            $"new global::Bocata.Binding.GeneratedHandler({Literal(verb)}, {Literal(describe)}, {TypeOfResult(method)}, " +
            $"new global::Bocata.IHook[] {{ {string.Join(", ", before)} }}, new global::Bocata.IHook[] {{ {string.Join(", ", after)} }}, ";

        /// <summary>The interceptor's attribute and signature: it returns <paramref name="returns"/> and takes the router, then the
        /// intercepted method's parameters.</summary>
        private static void Header(StringBuilder code, string interceptsLocation, string returns, IMethodSymbol target)
        {
            var parameters = target.Parameters.Select(p => (p.IsParams ? "params " : "") + p.Type.ToDisplayString(TypeFormat) + " " + p.Name)
                .Prepend("this global::Bocata.Router router");
            code.AppendLine($"        {interceptsLocation}");
            code.AppendLine($"        public static {returns} __NAME__({string.Join(", ", parameters)})");
        }

        /// <summary><c>var typed = …</c>: the handler through its own delegate type (a prototype lambda of the same signature,
        /// defaults included, names it), so the call needs no reflection.</summary>
        private static string TypedHandler(IMethodSymbol handler)
        {
            var returnType = handler.ReturnsVoid ? "void" : handler.ReturnType.ToDisplayString(TypeFormat);
            var prototype = string.Join(", ", handler.Parameters.Select((p, i) => p.Type.ToDisplayString(TypeFormat) + " p" + i.ToString(CultureInfo.InvariantCulture)
                + (p.HasExplicitDefaultValue ? " = " + DefaultLiteral(p) : "")));
            return $"            var typed = Cast(handler, static {returnType} ({prototype}) => throw null!);";
        }

        /// <summary><c>typeof(…)</c> of a method's declared result.</summary>
        private static string TypeOfResult(IMethodSymbol method) => $"typeof({(method.ReturnsVoid ? "void" : Unannotated(method.ReturnType))})";

        /// <summary>Every parameter of these methods after the first <paramref name="skip"/> (req and res, or the WebSocket), by name
        /// and type.</summary>
        private static string NamedTypes(IEnumerable<IMethodSymbol> methods, int skip) =>
            "new (string, global::System.Type)[] { " + string.Join(", ", methods.SelectMany(m => m.Parameters.Skip(skip))
                .Select(p => $"({Literal(p.Name)}, typeof({Unannotated(p.Type)}))")) + " }";

        /// <summary>The hooks of a symbol's <c>[Before]</c> or <c>[After]</c> attributes as constructor calls, in order; null when one
        /// cannot be constructed here (not an IHook, no public parameterless constructor: the runtime binder says so).</summary>
        private static List<string>? Hooks(ISymbol symbol, string attributeName)
        {
            var hooks = new List<string>();
            foreach (var attribute in symbol.GetAttributes())
            {
                if (attribute.AttributeClass?.ToDisplayString() != attributeName) continue;
                if (attribute.ConstructorArguments.Length != 1 || attribute.ConstructorArguments[0].Value is not INamedTypeSymbol hook) return null;
                if (!Types.Nameable(hook) || hook.IsAbstract || !hook.AllInterfaces.Any(i => i.ToDisplayString() == "Bocata.IHook")) return null;
                if (hook.TypeKind == TypeKind.Class && !hook.InstanceConstructors.Any(c => c.Parameters.Length == 0 && c.DeclaredAccessibility == Accessibility.Public)) return null;
                hooks.Add($"new {hook.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat)}()");
            }
            return hooks;
        }

        /// <summary>A symbol's <c>[Requires("…")]</c> attributes as hooks that check them (an argument that is not a constant string
        /// is passed as written: the runtime check refuses it as the attribute would).</summary>
        private static IEnumerable<string> Requirements(ISymbol symbol)
        {
            foreach (var attribute in symbol.GetAttributes())
            {
                if (attribute.AttributeClass?.ToDisplayString() != "Bocata.RequiresAttribute" || attribute.ConstructorArguments.Length != 1) continue;
                var names = attribute.ConstructorArguments[0].Kind == TypedConstantKind.Array
                    ? attribute.ConstructorArguments[0].Values.Select(v => v.Value is string name ? Literal(name) : "null!")
                    : Enumerable.Empty<string>();
                yield return $"global::Bocata.Binding.GeneratedRoutes.Requires(new string[] {{ {string.Join(", ", names)} }})";
            }
        }

        private static string NamedString(AttributeData attribute, string name)
        {
            foreach (var pair in attribute.NamedArguments)
                if (pair.Key == name && pair.Value.Value is string value) return Literal(value);
            return "null";
        }

        /// <summary><c>var pI = binder.Parameter&lt;T&gt;(…)</c> for each parameter from <paramref name="first"/> on.</summary>
        private static void ParameterReaders(StringBuilder code, ImmutableArray<IParameterSymbol> parameters, int first)
        {
            for (var i = first; i < parameters.Length; i++)
            {
                var p = parameters[i];
                var type = p.Type.ToDisplayString(TypeFormat);
                var fallback = p.HasExplicitDefaultValue ? $"({type}){DefaultLiteral(p)}" : "default!";
                var validation = p.GetAttributes().Where(IsValidation).Select(Construct).ToList();
                var attributes = validation.Count == 0 ? "null" : $"new global::System.ComponentModel.DataAnnotations.ValidationAttribute[] {{ {string.Join(", ", validation)} }}";
                code.AppendLine($"                var p{i} = binder.Parameter<{type}>({Literal(p.Name)}, {(p.HasExplicitDefaultValue ? "true" : "false")}, {fallback}, {attributes});");
            }
        }

        /// <summary>A <c>WebSocketRoute(pattern, (WebSocket ws, …) => …)</c> call: the handshake's parameters read (every one converted,
        /// then checked, so one refusal lists them all), then the handler called with them.</summary>
        private static string WebSocketInterceptor(string interceptsLocation, IMethodSymbol target, IMethodSymbol handler)
        {
            var code = new StringBuilder();
            var parameters = handler.Parameters;
            var args = new List<string> { "ws" };
            for (var i = 1; i < parameters.Length; i++)
                args.Add($"({parameters[i].Type.ToDisplayString(TypeFormat)})values[{(i - 1).ToString(CultureInfo.InvariantCulture)}]!");
            var call = $"typed({string.Join(", ", args)})";
            var invoke = handler.ReturnsVoid ? $"{{ {call}; return global::System.Threading.Tasks.Task.CompletedTask; }}"
                : handler.ReturnType.ToDisplayString() == "System.Threading.Tasks.ValueTask" ? $"{call}.AsTask()" : call;

            Header(code, interceptsLocation, "global::Bocata.Route", target);
            code.AppendLine("        {");
            code.AppendLine(TypedHandler(handler));
            code.AppendLine($"            return global::Bocata.Binding.GeneratedRoutes.AddWebSocket(router, pattern, handler, autoAccept, valueType, caughtCloseCodes,");
            code.AppendLine($"                {TypeOfResult(handler)}, {NamedTypes(new[] { handler }, skip: 1)}, binder =>");
            code.AppendLine("            {");
            ParameterReaders(code, parameters, 1);
            code.AppendLine("                var check = binder.NeedsCheck;");
            code.AppendLine("                return req =>");
            code.AppendLine("                {");
            code.AppendLine($"                    var read = new object?[] {{ {string.Join(", ", Enumerable.Range(1, parameters.Length - 1).Select(i => $"p{i}(req)"))} }};");
            code.AppendLine("                    if (check) global::Bocata.Binding.RouteBinder.Check(req);");
            code.AppendLine("                    return read;");
            code.AppendLine("                };");
            code.AppendLine($"            }}, (ws, values) => {invoke});");
            code.AppendLine("        }");
            code.AppendLine();
            return code.ToString();
        }

        /// <summary>The handler's result as a Task, checked as the runtime binder checks it (see Bind.Returned in Bocata).</summary>
        private static string Call(IMethodSymbol handler, string call)
        {
            if (handler.ReturnsVoid) return $"{call}; return global::System.Threading.Tasks.Task.CompletedTask;";
            var type = handler.ReturnType;
            var definition = type.OriginalDefinition.ToDisplayString();
            if (definition == "System.Threading.Tasks.ValueTask") return $"return {call}.AsTask();";
            if (definition == "System.Threading.Tasks.ValueTask<TResult>") return $"return binder.ReturnedAsync({call}.AsTask(), req, res);";
            if (definition == "System.Threading.Tasks.Task<TResult>") return $"return binder.ReturnedAsync({call}, req, res);";
            for (var t = type; t is not null; t = t.BaseType)
                if (t.ToDisplayString() == "System.Threading.Tasks.Task") return $"return {call};";
            return $"return binder.Returned(req, res, {call});";
        }

        /// <summary>The attribute as a constructor call: positional arguments, then named ones.</summary>
        private static string Construct(AttributeData attribute)
        {
            var arguments = string.Join(", ", attribute.ConstructorArguments.Select(a => a.ToCSharpString()));
            var named = attribute.NamedArguments.Select(n => $"{n.Key} = {n.Value.ToCSharpString()}").ToList();
            return $"new {attribute.AttributeClass!.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat)}({arguments})" + (named.Count == 0 ? "" : $" {{ {string.Join(", ", named)} }}");
        }

        private static string Unannotated(ITypeSymbol type) =>
            type.WithNullableAnnotation(NullableAnnotation.NotAnnotated).ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);

        private static string Literal(string text) => SymbolDisplay.FormatLiteral(text, quote: true);

        /// <summary>A parameter's default value as C# (null when it cannot be written).</summary>
        private static string? DefaultLiteral(IParameterSymbol parameter)
        {
            var value = parameter.ExplicitDefaultValue;
            if (value is null) return "default";
            var type = parameter.Type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable ? nullable.TypeArguments[0] : parameter.Type;
            if (type.TypeKind == TypeKind.Enum)
                return $"({type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat)})({SymbolDisplay.FormatPrimitive(value, quoteStrings: false, useHexadecimalNumbers: false)})";
            return value switch
            {
                string s => Literal(s),
                char c => SymbolDisplay.FormatLiteral(c, quote: true),
                bool b => b ? "true" : "false",
                float f when float.IsNaN(f) || float.IsInfinity(f) => null,
                double d when double.IsNaN(d) || double.IsInfinity(d) => null,
                float f => f.ToString("R", CultureInfo.InvariantCulture) + "F",
                double d => d.ToString("R", CultureInfo.InvariantCulture) + "D",
                decimal m => m.ToString(CultureInfo.InvariantCulture) + "M",
                int or long or short or byte or sbyte or ushort or uint or ulong => "(" + SymbolDisplay.FormatPrimitive(value, quoteStrings: false, useHexadecimalNumbers: false) + ")",
                _ => null,
            };
        }
    }
}
