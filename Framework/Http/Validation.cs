using System.Diagnostics.CodeAnalysis;

namespace Bocata;

/// <summary>The DataAnnotations validation <c>req.JsonAsync&lt;T&gt;()</c> and <c>ws.ReceiveJsonAsync&lt;T&gt;()</c> apply, for any
/// object of yours: the same checks, member names and messages.</summary>
public static class Validation
{
    /// <summary>Every member of <paramref name="value"/> whose DataAnnotations attribute fails, by JSON name, with its message
    /// (<c>{"bidder": "Must match the pattern /^[a-z]+$/."}</c>); empty when the value is valid. <typeparamref name="T"/> must be
    /// the value's own type: its members are what is checked.</summary>
    public static IReadOnlyDictionary<string, string> Errors<[DynamicallyAccessedMembers(JsonValidation.Members)] T>(T value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.GetType() != typeof(T))
            throw new ArgumentException($"Validation checks the members of the type it is given ({typeof(T).Name}), but the value is a {value.GetType().Name}: call it with a {value.GetType().Name}.", nameof(value));
        return JsonValidation.Failures(value, typeof(T), BocataJson.Options) ?? (IReadOnlyDictionary<string, string>)Empty;
    }

    /// <summary>Throws <c>HttpError(400)</c> whose detail is <see cref="Errors{T}"/> when <paramref name="value"/> is not valid, as
    /// <c>req.JsonAsync&lt;T&gt;()</c> does: in an HTTP handler, the client gets that 400.</summary>
    public static void Check<[DynamicallyAccessedMembers(JsonValidation.Members)] T>(T value)
    {
        if (Errors(value) is { Count: > 0 } errors) throw new HttpError(400, errors);
    }

    private static readonly Dictionary<string, string> Empty = [];
}
