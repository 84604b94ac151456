using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Bocata.Generators;

/// <summary>JSON Schemas (2020-12, as OpenAPI 3.1 and 3.2 use) of the types an app sends and reads, written from Roslyn symbols at
/// build time: property names as <c>res.Json</c> writes them (camelCase, <c>[JsonPropertyName]</c>, <c>[JsonIgnore]</c>), nullable
/// types as <c>type: [..., "null"]</c>, <c>required</c> members, <c>[Required]</c> and record parameters as <c>required</c>,
/// DataAnnotations as keywords, collections, dictionaries, enums, <c>[JsonDerivedType]</c> as <c>oneOf</c> + discriminator. A named
/// type becomes a component (its schema once, referenced with <c>$ref</c>); anonymous types and collections are written inline.</summary>
internal sealed class OpenApiSchemas
{
    private readonly Dictionary<string, ITypeSymbol> _names = new(StringComparer.Ordinal);

    /// <summary>Named schemas found so far: component name, <c>typeof</c> expression (null when generated code cannot name the
    /// type), schema JSON.</summary>
    public List<(string Name, string? TypeOf, string Json)> Components { get; } = new();

    /// <summary>The schema of <paramref name="type"/> as JSON (a <c>$ref</c> for a named type).</summary>
    public string Schema(ITypeSymbol type)
    {
        if (type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable)
            return Nullable(Schema(nullable.TypeArguments[0]));
        var schema = NotNull(type);
        return type.IsReferenceType && type.NullableAnnotation == NullableAnnotation.Annotated ? Nullable(schema) : schema;
    }

    /// <summary>The registration statements for every component found, for the module initializer.</summary>
    public IEnumerable<string> Registrations() => Components.Select(c =>
        $"global::Bocata.Binding.GeneratedOpenApi.Schema({c.TypeOf ?? "null"}, {Literal(c.Name)}, {Literal(c.Json)});");

    public static string Literal(string text) => SymbolDisplay.FormatLiteral(text, quote: true);

    private static string Nullable(string schema)
    {
        if (schema == "{}") return schema;
        const string prefix = "{\"type\":\"";
        if (schema.StartsWith(prefix, StringComparison.Ordinal))
        {
            var end = schema.IndexOf('"', prefix.Length);
            var json = schema.Substring(prefix.Length, end - prefix.Length);
            // A nullable enum: null must be one of the values too.
            var rest = schema.Substring(end + 1).Replace("\"enum\":[", "\"enum\":[null,");
            return "{\"type\":[\"" + json + "\",\"null\"]" + rest;
        }
        return "{\"anyOf\":[" + schema + ",{\"type\":\"null\"}]}";
    }

    private string NotNull(ITypeSymbol type)
    {
        switch (type.SpecialType)
        {
            case SpecialType.System_String:
            case SpecialType.System_Char: return "{\"type\":\"string\"}";
            case SpecialType.System_Boolean: return "{\"type\":\"boolean\"}";
            case SpecialType.System_Byte:
            case SpecialType.System_SByte:
            case SpecialType.System_Int16:
            case SpecialType.System_UInt16:
            case SpecialType.System_Int32: return "{\"type\":\"integer\",\"format\":\"int32\"}";
            case SpecialType.System_UInt32:
            case SpecialType.System_Int64: return "{\"type\":\"integer\",\"format\":\"int64\"}";
            case SpecialType.System_UInt64: return "{\"type\":\"integer\"}";
            case SpecialType.System_Single: return "{\"type\":\"number\",\"format\":\"float\"}";
            case SpecialType.System_Double: return "{\"type\":\"number\",\"format\":\"double\"}";
            case SpecialType.System_Decimal: return "{\"type\":\"number\",\"format\":\"decimal\"}";
            case SpecialType.System_Object: return "{}";
            case SpecialType.System_DateTime: return "{\"type\":\"string\",\"format\":\"date-time\"}";
        }
        switch (type.ToDisplayString(SymbolDisplayFormat.CSharpErrorMessageFormat.WithMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.None)))
        {
            case "System.Guid": return "{\"type\":\"string\",\"format\":\"uuid\"}";
            case "System.DateTimeOffset": return "{\"type\":\"string\",\"format\":\"date-time\"}";
            case "System.DateOnly": return "{\"type\":\"string\",\"format\":\"date\"}";
            case "System.TimeOnly": return "{\"type\":\"string\",\"format\":\"time\"}";
            case "System.TimeSpan": return "{\"type\":\"string\",\"format\":\"duration\"}";
            case "System.Uri": return "{\"type\":\"string\",\"format\":\"uri\"}";
            case "System.Text.Json.JsonElement":
            case "System.Text.Json.JsonDocument":
            case "System.Text.Json.Nodes.JsonNode": return "{}";
            case "System.Text.Json.Nodes.JsonObject": return "{\"type\":\"object\"}";
            case "System.Text.Json.Nodes.JsonArray": return "{\"type\":\"array\"}";
        }
        if (type is IArrayTypeSymbol array)
            return array.ElementType.SpecialType == SpecialType.System_Byte
                ? "{\"type\":\"string\",\"format\":\"byte\"}"   // System.Text.Json writes byte[] as base64
                : "{\"type\":\"array\",\"items\":" + Schema(array.ElementType) + "}";
        if (type.TypeKind == TypeKind.Enum) return Reference((INamedTypeSymbol)type);
        if (type is not INamedTypeSymbol named) return "{}";
        if (named.IsAnonymousType) return Object(named, out _);
        if (Dictionary(named) is { } value) return "{\"type\":\"object\",\"additionalProperties\":" + Schema(value) + "}";
        if (Element(named) is { } element) return "{\"type\":\"array\",\"items\":" + Schema(element) + "}";
        if (named.TypeKind == TypeKind.Delegate || named.IsStatic) return "{}";
        return Reference(named);
    }

    /// <summary>Names as the enum's converter writes them (<c>JsonStringEnumConverter</c> on the enum), else numbers (System.Text.Json's
    /// default, and Bocata's).</summary>
    private static string Enum(INamedTypeSymbol type)
    {
        var members = type.GetMembers().OfType<IFieldSymbol>().Where(f => f.HasConstantValue).ToList();
        var asStrings = type.GetAttributes().Any(a => a.AttributeClass?.Name == "JsonConverterAttribute"
            && a.ConstructorArguments.Length == 1 && a.ConstructorArguments[0].Value is INamedTypeSymbol converter
            && converter.Name.StartsWith("JsonStringEnumConverter", StringComparison.Ordinal));
        return asStrings
            ? "{\"type\":\"string\",\"enum\":[" + string.Join(",", members.Select(m => Literal(JsonName(m) ?? m.Name))) + "]}"
            : "{\"type\":\"integer\",\"enum\":[" + string.Join(",", members.Select(m => Convert.ToString(m.ConstantValue, CultureInfo.InvariantCulture))) + "]}";
    }

    private static ITypeSymbol? Dictionary(INamedTypeSymbol type)
    {
        foreach (var candidate in new[] { type }.Concat(type.AllInterfaces))
        {
            var name = candidate.OriginalDefinition.ToDisplayString();
            if (name is "System.Collections.Generic.IDictionary<TKey, TValue>" or "System.Collections.Generic.IReadOnlyDictionary<TKey, TValue>"
                or "System.Collections.Generic.Dictionary<TKey, TValue>")
                return candidate.TypeArguments[1];
        }
        return null;
    }

    private static ITypeSymbol? Element(INamedTypeSymbol type)
    {
        foreach (var candidate in new[] { type }.Concat(type.AllInterfaces))
        {
            var name = candidate.OriginalDefinition.ToDisplayString();
            if (name is "System.Collections.Generic.IEnumerable<T>" or "System.Collections.Generic.IAsyncEnumerable<T>") return candidate.TypeArguments[0];
        }
        return null;
    }

    /// <summary>A <c>$ref</c> to the type's component, written the first time it is seen.</summary>
    private string Reference(INamedTypeSymbol type)
    {
        var name = ComponentName(type);
        if (!_names.ContainsKey(name))
        {
            _names[name] = type;
            var index = Components.Count;
            Components.Add((name, null, "{}"));
            var json = type.TypeKind == TypeKind.Enum ? Enum(type) : Polymorphic(type) ?? Object(type, out _);
            Components[index] = (name, Types.Nameable(type) ? $"typeof({type.WithNullableAnnotation(NullableAnnotation.NotAnnotated).ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat)})" : null, json);
        }
        return "{\"$ref\":\"#/components/schemas/" + name + "\"}";
    }

    private static string ComponentName(INamedTypeSymbol type)
    {
        if (!type.IsGenericType) return type.Name;
        return type.Name + "Of" + string.Join("And", type.TypeArguments.Select(t => t is INamedTypeSymbol n ? ComponentName(n) : t is IArrayTypeSymbol a ? "ArrayOf" + a.ElementType.Name : t.Name));
    }

    /// <summary><c>[JsonDerivedType]</c> on the type: <c>oneOf</c> its derived types, told apart by the discriminator property.</summary>
    private string? Polymorphic(INamedTypeSymbol type)
    {
        var derived = type.GetAttributes().Where(a => a.AttributeClass?.Name == "JsonDerivedTypeAttribute" && a.ConstructorArguments.Length >= 1).ToList();
        if (derived.Count == 0) return null;
        var property = Discriminator(type);
        var refs = new List<string>();
        var mapping = new List<string>();
        foreach (var attribute in derived)
        {
            if (attribute.ConstructorArguments[0].Value is not INamedTypeSymbol sub) continue;
            var reference = SymbolEqualityComparer.Default.Equals(sub, type) ? null : Reference(sub);
            if (reference is null) continue;
            refs.Add(reference);
            if (attribute.ConstructorArguments.Length > 1 && attribute.ConstructorArguments[1].Value is { } value)
                mapping.Add(Literal(Convert.ToString(value, CultureInfo.InvariantCulture)!) + ":" + Literal("#/components/schemas/" + ComponentName(sub)));
        }
        return "{\"oneOf\":[" + string.Join(",", refs) + "],\"discriminator\":{\"propertyName\":" + Literal(property)
            + (mapping.Count > 0 ? ",\"mapping\":{" + string.Join(",", mapping) + "}" : "") + "}}";
    }

    private static string Discriminator(INamedTypeSymbol type)
    {
        foreach (var attribute in type.GetAttributes())
            if (attribute.AttributeClass?.Name == "JsonPolymorphicAttribute")
                foreach (var named in attribute.NamedArguments)
                    if (named.Key == "TypeDiscriminatorPropertyName" && named.Value.Value is string name) return name;
        return "$type";
    }

    /// <summary>An object schema of the type's serialized members.</summary>
    private string Object(INamedTypeSymbol type, out List<string> required)
    {
        var properties = new List<string>();
        required = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        // A derived type of a [JsonDerivedType] base carries the discriminator.
        for (var b = type.BaseType; b is not null; b = b.BaseType)
        {
            foreach (var attribute in b.GetAttributes())
            {
                if (attribute.AttributeClass?.Name != "JsonDerivedTypeAttribute" || attribute.ConstructorArguments.Length < 2) continue;
                if (!SymbolEqualityComparer.Default.Equals(attribute.ConstructorArguments[0].Value as ITypeSymbol, type) || attribute.ConstructorArguments[1].Value is not { } value) continue;
                var property = Discriminator(b);
                seen.Add(property);
                properties.Add(Literal(property) + ":{\"const\":" + (value is string s ? Literal(s) : Convert.ToString(value, CultureInfo.InvariantCulture)) + "}");
                required.Add(property);
            }
        }
        var positional = new HashSet<string>(StringComparer.Ordinal);
        if (type.IsRecord)
            foreach (var constructor in type.InstanceConstructors)
                if (constructor.Parameters.Length > 0 && constructor.DeclaringSyntaxReferences.Any(r => r.GetSyntax() is Microsoft.CodeAnalysis.CSharp.Syntax.TypeDeclarationSyntax))
                    foreach (var parameter in constructor.Parameters)
                        if (!parameter.HasExplicitDefaultValue) positional.Add(parameter.Name);

        for (var t = type; t is not null && t.SpecialType != SpecialType.System_Object; t = t.BaseType)
        {
            foreach (var member in t.GetMembers())
            {
                if (member.IsStatic || member.IsImplicitlyDeclared) continue;
                ITypeSymbol memberType;
                bool isRequired;
                if (member is IPropertySymbol property && property.Parameters.Length == 0 && property.GetMethod is { DeclaredAccessibility: Accessibility.Public } && member.DeclaredAccessibility == Accessibility.Public)
                {
                    if (property.IsOverride) continue;
                    memberType = property.Type;
                    isRequired = property.IsRequired;
                }
                else if (member is IFieldSymbol field && field.DeclaredAccessibility == Accessibility.Public && !field.IsConst && HasAttribute(field, "JsonIncludeAttribute"))
                {
                    memberType = field.Type;
                    isRequired = field.IsRequired;
                }
                else continue;
                if (Ignored(member)) continue;
                var name = JsonName(member) ?? CamelCase(member.Name);
                if (!seen.Add(name)) continue;
                var schema = WithKeywords(Schema(memberType), member, memberType);
                properties.Add(Literal(name) + ":" + schema);
                if (isRequired || HasAttribute(member, "RequiredAttribute") || HasAttribute(member, "JsonRequiredAttribute") || positional.Contains(member.Name))
                    required.Add(name);
            }
        }
        var json = new StringBuilder("{\"type\":\"object\",\"properties\":{");
        json.Append(string.Join(",", properties)).Append('}');
        if (required.Count > 0) json.Append(",\"required\":[").Append(string.Join(",", required.Distinct().Select(Literal))).Append(']');
        return json.Append('}').ToString();
    }

    private static bool Ignored(ISymbol member)
    {
        foreach (var attribute in member.GetAttributes())
        {
            if (attribute.AttributeClass?.Name != "JsonIgnoreAttribute") continue;
            // JsonIgnoreCondition.Always (the default, 1) leaves it out; Never (0) keeps it; WhenWritingNull/Default keep it sometimes.
            var condition = attribute.NamedArguments.FirstOrDefault(n => n.Key == "Condition").Value.Value;
            if (condition is null || (condition is int c && c == 1)) return true;
        }
        return false;
    }

    private static bool HasAttribute(ISymbol symbol, string name) => symbol.GetAttributes().Any(a => a.AttributeClass?.Name == name);

    private static string? JsonName(ISymbol member)
    {
        foreach (var attribute in member.GetAttributes())
            if (attribute.AttributeClass?.Name is "JsonPropertyNameAttribute" or "JsonStringEnumMemberNameAttribute" && attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is string name)
                return name;
        return null;
    }

    /// <summary>DataAnnotations of a member as JSON Schema keywords (lengths of a string, counts of a collection, a range, a pattern).</summary>
    private static string WithKeywords(string schema, ISymbol member, ITypeSymbol type)
    {
        var keywords = new List<string>();
        var collection = type.SpecialType != SpecialType.System_String && (type is IArrayTypeSymbol || (type is INamedTypeSymbol n && Element(n) is not null));
        var (min, max) = collection ? ("minItems", "maxItems") : ("minLength", "maxLength");
        foreach (var attribute in member.GetAttributes())
        {
            var args = attribute.ConstructorArguments;
            switch (attribute.AttributeClass?.Name)
            {
                case "StringLengthAttribute" when args.Length == 1:
                    keywords.Add($"\"maxLength\":{Number(args[0].Value)}");
                    var minimum = attribute.NamedArguments.Where(n => n.Key == "MinimumLength").Select(n => n.Value.Value as int?).FirstOrDefault() ?? 0;
                    // [Required] on a string also refuses "": at least one character.
                    if (minimum == 0 && HasAttribute(member, "RequiredAttribute")) minimum = 1;
                    if (minimum > 0) keywords.Add($"\"minLength\":{minimum}");
                    break;
                case "MinLengthAttribute" when args.Length == 1:
                    keywords.Add($"\"{min}\":{Number(args[0].Value)}");
                    break;
                case "MaxLengthAttribute" when args.Length == 1:
                    keywords.Add($"\"{max}\":{Number(args[0].Value)}");
                    break;
                case "LengthAttribute" when args.Length == 2:
                    keywords.Add($"\"{min}\":{Number(args[0].Value)}");
                    keywords.Add($"\"{max}\":{Number(args[1].Value)}");
                    break;
                case "RangeAttribute" when args.Length == 2 && args[0].Value is int or double:
                    keywords.Add($"\"minimum\":{Number(args[0].Value)}");
                    keywords.Add($"\"maximum\":{Number(args[1].Value)}");
                    break;
                case "RegularExpressionAttribute" when args.Length == 1 && args[0].Value is string pattern:
                    keywords.Add($"\"pattern\":{Literal(pattern)}");
                    break;
                case "RequiredAttribute" when type.SpecialType == SpecialType.System_String
                    && !attribute.NamedArguments.Any(n => n.Key == "AllowEmptyStrings" && n.Value.Value is true):
                    // [Required] refuses an empty string too (unless AllowEmptyStrings).
                    if (!member.GetAttributes().Any(a => a.AttributeClass?.Name is "StringLengthAttribute" or "MinLengthAttribute" or "LengthAttribute"))
                        keywords.Add("\"minLength\":1");
                    break;
                case "EmailAddressAttribute":
                    keywords.Add("\"format\":\"email\"");
                    break;
                case "UrlAttribute":
                    keywords.Add("\"format\":\"uri\"");
                    break;
            }
        }
        if (keywords.Count == 0) return schema;
        var inner = schema.Substring(0, schema.Length - 1);
        return inner + (inner.Length > 1 ? "," : "") + string.Join(",", keywords) + "}";
    }

    private static string Number(object? value) => value switch
    {
        double d when double.IsInfinity(d) || double.IsNaN(d) => "0",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "0",
    };

    /// <summary>System.Text.Json's camelCase (JsonNamingPolicy.CamelCase): a leading run of capitals is lowered up to the last one
    /// that starts a word (<c>URLValue</c> is <c>urlValue</c>).</summary>
    public static string CamelCase(string name)
    {
        if (name.Length == 0 || !char.IsUpper(name[0])) return name;
        var chars = name.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (i == 1 && !char.IsUpper(chars[i])) break;
            var hasNext = i + 1 < chars.Length;
            if (i > 0 && hasNext && !char.IsUpper(chars[i + 1]))
            {
                if (char.IsSeparator(chars[i + 1])) chars[i] = char.ToLowerInvariant(chars[i]);
                break;
            }
            chars[i] = char.ToLowerInvariant(chars[i]);
        }
        return new string(chars);
    }
}
