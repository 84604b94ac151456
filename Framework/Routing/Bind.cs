using System.Globalization;
using Microsoft.Extensions.DependencyInjection;

namespace Bocata;

/// <summary>The runtime half of parameter binding, called from the compiled binders. Conversions read spans of the path: no allocation for numbers.</summary>
internal static class Bind
{
    public static T Path<T>(Request req, int index, string name)
    {
        var raw = req.RouteValues.GetSpan(index);
        if (TryConvert(raw, out T value)) return value;
        req.AddBindingError(name, ErrorMessage(typeof(T)));
        return default!;
    }

    public static T Query<T>(Request req, string name, T fallback)
    {
        var raw = req.QueryParams[name];
        if (raw is null) return fallback;
        if (TryConvert(raw.AsSpan(), out T value)) return value;
        req.AddBindingError(name, ErrorMessage(typeof(T)));
        return fallback;
    }

    public static T Service<T>(Request req) where T : notnull => req.RequestServices.GetRequiredService<T>();

    public static T View<[System.Diagnostics.CodeAnalysis.DynamicallyAccessedMembers(System.Diagnostics.CodeAnalysis.DynamicallyAccessedMemberTypes.PublicConstructors)] T>(Request req) where T : class => ActivatorUtilities.GetServiceOrCreateInstance<T>(req.RequestServices);

    public static void Check(Request req) => req.ThrowBindingErrors();

    /// <summary>A result type an expression-bodied assignment can produce (<c>res.Text = …</c>, <c>res.Json = …</c>,
    /// <c>res.Content = …</c>, <c>res.StatusCode = …</c>, <c>res.Chunked = …</c>, <c>req.Session["k"] = …</c>).</summary>
    public static bool CanBeIncidental(Type type) =>
        type == typeof(string) || type == typeof(object) || type == typeof(byte[]) || type == typeof(int) || type == typeof(bool);

    public static Task Returned(Request req, Response res, object? value, string describe)
    {
        if (value is null || res.Kind != BodyKind.None) return Task.CompletedTask;
        var explained = value switch
        {
            int status => status == res.StatusCode,
            bool chunked => chunked == res.Chunked,
            string text => res.Headers.Any(h => h.Value == text) || req.HasSessionValue(text),
            _ => false,
        };
        if (explained) return Task.CompletedTask;
        var shown = value is string s ? $"\"{(s.Length > 40 ? s[..40] + "…" : s)}\"" : value.GetType().Name;
        throw new InvalidOperationException($"The {describe} returned {shown} but set no body: Bocata sends only what a handler sets on res, " +
            "so this would have been an empty 200. Set it instead of returning it: res.Text = ... (or res.Json = ..., res.Html = ...).");
    }

    public static async Task ReturnedAsync<T>(Task<T> task, Request req, Response res, string describe)
    {
        var value = await task;
        await Returned(req, res, value, describe);
    }

    /// <summary>DataAnnotations on a route or query parameter (<c>[Range(1, 100)] int times = 1</c>), checked after conversion:
    /// each failure joins the one 400 that lists every bad parameter.</summary>
    public static T Validate<T>(Request req, string name, T value, System.ComponentModel.DataAnnotations.ValidationAttribute[] attributes)
    {
        if (req.HasBindingError(name)) return value;
        var context = new System.ComponentModel.DataAnnotations.ValidationContext(req, name, null, null) { MemberName = name };
        foreach (var attribute in attributes)
        {
            if (attribute.GetValidationResult(value, context) is { } failed)
            {
                req.AddBindingError(name, JsonValidation.Message(attribute, failed, value));
                break;
            }
        }
        return value;
    }

    /// <summary>Converts a raw value to <paramref name="type"/> for hooks; the raw string when it does not convert (binding then reports the 400).</summary>
    public static object? ConvertOrRaw(string raw, Type type)
    {
        if (type == typeof(string) || !IsConvertible(type)) return raw;
        return TryConvertBoxed(raw, Nullable.GetUnderlyingType(type) ?? type, out var value) ? value : raw;
    }

    public static bool IsConvertible(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type == typeof(string) || type == typeof(int) || type == typeof(long) || type == typeof(double)
            || type == typeof(decimal) || type == typeof(bool) || type == typeof(Guid) || type == typeof(DateOnly)
            || type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(float) || type == typeof(short)
            || type == typeof(TimeOnly) || type.IsEnum;
    }

    public static bool TryConvert<T>(ReadOnlySpan<char> raw, out T value)
    {
        bool ok;
        // Each branch is a JIT-time constant for value types, so only one survives per instantiation.
        if (typeof(T) == typeof(string)) { value = (T)(object)raw.ToString(); return true; }
        if (typeof(T) == typeof(int)) { ok = TryParseInt(raw, out var v); value = (T)(object)v; return ok; }
        if (typeof(T) == typeof(long)) { ok = TryParseLong(raw, out var v); value = (T)(object)v; return ok; }
        if (typeof(T) == typeof(Guid)) { ok = Guid.TryParse(raw, out var v); value = (T)(object)v; return ok; }
        var ok2 = TryConvertBoxed(raw, Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T), out var boxed);
        value = ok2 ? (T)boxed! : default!;
        return ok2;
    }

    /// <summary>The conversion of <see cref="TryConvert{T}"/> for a type known only at run time (no generic instantiation).</summary>
    private static bool TryConvertBoxed(ReadOnlySpan<char> raw, Type type, out object? boxed)
    {
        var inv = CultureInfo.InvariantCulture;
        bool ok;
        if (type == typeof(int)) { ok = TryParseInt(raw, out var v); boxed = v; }
        else if (type == typeof(long)) { ok = TryParseLong(raw, out var v); boxed = v; }
        else if (type == typeof(short)) { ok = short.TryParse(raw, NumberStyles.Integer, inv, out var v); boxed = v; }
        else if (type == typeof(double)) { ok = double.TryParse(raw, NumberStyles.Float, inv, out var v) && double.IsFinite(v); boxed = v; }
        else if (type == typeof(float)) { ok = float.TryParse(raw, NumberStyles.Float, inv, out var v) && float.IsFinite(v); boxed = v; }
        else if (type == typeof(decimal)) { ok = decimal.TryParse(raw, NumberStyles.Number, inv, out var v); boxed = v; }
        else if (type == typeof(bool)) { ok = TryParseBool(raw, out var v); boxed = v; }
        else if (type == typeof(Guid)) { ok = Guid.TryParse(raw, out var v); boxed = v; }
        else if (type == typeof(DateOnly)) { ok = DateOnly.TryParseExact(raw, "yyyy-MM-dd", inv, DateTimeStyles.None, out var v); boxed = v; }
        else if (type == typeof(TimeOnly)) { ok = TimeOnly.TryParse(raw, inv, DateTimeStyles.None, out var v); boxed = v; }
        else if (type == typeof(DateTime)) { ok = DateTime.TryParse(raw, inv, DateTimeStyles.RoundtripKind, out var v); boxed = v; }
        else if (type == typeof(DateTimeOffset)) { ok = DateTimeOffset.TryParse(raw, inv, DateTimeStyles.None, out var v); boxed = v; }
        else if (type.IsEnum) { ok = Enum.TryParse(type, raw, ignoreCase: true, out var v) && !IsNumeric(raw) && v is not null; boxed = v; }
        else throw new NotSupportedException($"Bocata cannot convert a route or query value to {type.Name}.");
        if (!ok) boxed = null;
        return ok;
    }

    // Bocadillo converts with Python's int(float(...)) semantics for decimals: "4.2" is 4 (truncated toward zero).
    private static bool TryParseInt(ReadOnlySpan<char> raw, out int value)
    {
        if (int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out value)) return true;
        var ok = TryParseTruncated(raw, int.MinValue, int.MaxValue, out var d);
        value = ok ? (int)d : 0;
        return ok;
    }

    private static bool TryParseLong(ReadOnlySpan<char> raw, out long value)
    {
        if (long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out value)) return true;
        var ok = TryParseTruncated(raw, long.MinValue, long.MaxValue, out var d);
        value = ok ? (long)d : 0;
        return ok;
    }

    private static bool TryParseTruncated(ReadOnlySpan<char> raw, double min, double max, out double value)
    {
        value = 0;
        if (!double.TryParse(raw, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var d)) return false;
        value = Math.Truncate(d);
        return double.IsFinite(value) && value >= min && value <= max;
    }

    private static bool IsNumeric(ReadOnlySpan<char> raw) => raw.Length > 0 && (char.IsAsciiDigit(raw[0]) || raw[0] == '-');

    // Bocadillo's boolean: true/false/1/0 in any case, and empty (false); "yes", "on" and the like are refused.
    private static bool TryParseBool(ReadOnlySpan<char> raw, out bool value)
    {
        if (raw.Equals("true", StringComparison.OrdinalIgnoreCase) || raw.SequenceEqual("1"))
        {
            value = true;
            return true;
        }
        value = false;
        return raw.IsEmpty || raw.Equals("false", StringComparison.OrdinalIgnoreCase) || raw.SequenceEqual("0");
    }

    public static string ErrorMessage(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(int) || type == typeof(long) || type == typeof(short) || type == typeof(double) || type == typeof(float) || type == typeof(decimal))
            return "Must be a number.";
        if (type == typeof(bool)) return "Must be a boolean.";
        if (type == typeof(Guid)) return "Must be a UUID.";
        if (type == typeof(DateOnly)) return "Must be a date (YYYY-MM-DD).";
        if (type == typeof(TimeOnly)) return "Must be a time (HH:MM[:SS]).";
        if (type == typeof(DateTime) || type == typeof(DateTimeOffset)) return "Must be a date and time (ISO 8601).";
        if (type.IsEnum) return $"Must be one of: {string.Join(", ", Enum.GetNames(type))}.";
        return $"Must be a valid {type.Name}.";
    }
}
