namespace Bocata;

internal static class HeaderValidation
{
    // RFC 9110 section 5.6.2: a field name is a token.
    private const string TokenSymbols = "!#$%&'*+-.^_`|~";

    public static void ValidateName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || TokenSymbols.Contains(c, StringComparison.Ordinal)))
            {
                throw new ArgumentException(
                    $"Header name '{Printable(name)}' contains the character {Describe(c)}, which is not allowed in a header name (RFC 9110 token characters only).",
                    nameof(name));
            }
        }
    }

    public static void ValidateValue(string name, string? value)
    {
        if (value is null) return;
        foreach (var c in value)
        {
            // RFC 9110 section 5.5: CR, LF and NUL are never valid in a field value; other controls except HTAB are obsolete.
            if ((c < 0x20 && c != '\t') || c == 0x7F)
            {
                throw new ArgumentException(
                    $"The value of header '{name}' contains {Describe(c)}. Header values cannot contain CR, LF, NUL or other control characters: they would let a value split the response. Remove or encode them.",
                    nameof(value));
            }
        }
    }

    private static string Describe(char c) => c switch
    {
        '\r' => "a carriage return (CR)",
        '\n' => "a line feed (LF)",
        '\0' => "a NUL character",
        _ => $"the character U+{(int)c:X4}",
    };

    private static string Printable(string s) => s.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
