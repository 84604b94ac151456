namespace Bocata;

/// <summary>A Bocadillo route pattern compiled once: <c>{name}</c> one segment, <c>{name:path}</c> the rest, <c>{}</c> an anonymous segment.</summary>
internal sealed class RoutePattern
{
    private readonly Token[][] _segments;
    private readonly bool _tail;

    private RoutePattern(string text, Token[][] segments, string[] names, bool tail, int captureCount)
    {
        Text = text;
        _segments = segments;
        ParameterNames = names;
        _tail = tail;
        CaptureCount = captureCount;
    }

    public string Text { get; }

    /// <summary>The pattern with parameter names erased (<c>/items/{}</c>, <c>/files/{*}</c>): two patterns with one shape match
    /// exactly the same paths, so the one registered second could never be reached.</summary>
    public string Shape => _shape ??= string.Join('/', _segments.Select(tokens => string.Concat(tokens.Select(t => t.Kind switch
    {
        TokenKind.Literal => t.Text,
        TokenKind.Tail => "{*}",
        _ => "{}",
    }))));

    private string? _shape;

    /// <summary>Named parameters, in order of appearance; capture <c>i</c> holds parameter <c>i</c>.</summary>
    public string[] ParameterNames { get; }

    public int CaptureCount { get; }

    public bool IsStatic => CaptureCount == 0 && !HasWildcard;

    /// <summary>The first path segment when it is plain text (for bucketing), or null when it holds a parameter.</summary>
    public string? FirstLiteralSegment =>
        _segments.Length > 1 && _segments[0] is [{ Kind: TokenKind.Literal } only] ? only.Text : null;

    private bool HasWildcard { get; init; }

    private sealed record SpanName(string Method, string Route, string Name);

    private SpanName? _spanName;

    /// <summary>"GET /items/{pk}": a trace's span name, kept (one reference, swapped whole) for the last method and mount it was built for.</summary>
    public string DisplayName(string method, string route)
    {
        if (Volatile.Read(ref _spanName) is { } cached && cached.Method == method && cached.Route == route) return cached.Name;
        var name = method + " " + route;
        Volatile.Write(ref _spanName, new SpanName(method, route, name));
        return name;
    }

    public int IndexOf(string name)
    {
        for (var i = 0; i < ParameterNames.Length; i++)
            if (string.Equals(ParameterNames[i], name, StringComparison.OrdinalIgnoreCase)) return i;
        return -1;
    }

    public static RoutePattern Parse(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        // Bocadillo reads "foo" as "/foo".
        if (!pattern.StartsWith('/')) pattern = "/" + pattern;

        var rawSegments = pattern[1..].Split('/');
        var segments = new Token[rawSegments.Length][];
        var names = new List<string>();
        var wildcard = false;
        var tail = false;
        var captures = 0;
        for (var s = 0; s < rawSegments.Length; s++)
        {
            var raw = rawSegments[s];
            var tokens = new List<Token>();
            var pos = 0;
            while (pos < raw.Length)
            {
                var open = raw.IndexOf('{', pos);
                var close = raw.IndexOf('}', pos);
                if (close >= 0 && (open < 0 || close < open))
                    throw new ArgumentException($"Route pattern '{pattern}' has a '}}' without a matching '{{'.", nameof(pattern));
                if (open < 0)
                {
                    tokens.Add(Token.Literal(raw[pos..]));
                    break;
                }
                if (open > pos) tokens.Add(Token.Literal(raw[pos..open]));
                close = raw.IndexOf('}', open);
                if (close < 0) throw new ArgumentException($"Route pattern '{pattern}' has a '{{' without a matching '}}'.", nameof(pattern));
                var inner = raw[(open + 1)..close];
                if (tokens.Count > 0 && tokens[^1].Kind != TokenKind.Literal)
                    throw new ArgumentException($"Route pattern '{pattern}': two parameters side by side in one segment cannot be told apart; put a literal between them.", nameof(pattern));

                if (inner.Length == 0)
                {
                    tokens.Add(Token.Param(-1));
                    wildcard = true;
                }
                else
                {
                    var colon = inner.IndexOf(':', StringComparison.Ordinal);
                    var name = colon < 0 ? inner : inner[..colon];
                    var spec = colon < 0 ? null : inner[(colon + 1)..];
                    if (!IsIdentifier(name))
                        throw new ArgumentException($"Route pattern '{pattern}': '{name}' is not a valid parameter name (letters, digits and '_', not starting with a digit).", nameof(pattern));
                    foreach (var existing in names)
                        if (string.Equals(existing, name, StringComparison.OrdinalIgnoreCase))
                            throw new ArgumentException($"Route pattern '{pattern}' uses the parameter '{name}' twice.", nameof(pattern));
                    if (spec is null)
                    {
                        tokens.Add(Token.Param(names.Count));
                    }
                    else if (spec == "path")
                    {
                        if (s != rawSegments.Length - 1 || open != 0 || close != raw.Length - 1)
                            throw new ArgumentException($"Route pattern '{pattern}': '{{{inner}}}' matches the rest of the path, so it must be the whole last segment.", nameof(pattern));
                        tokens.Add(Token.Tail(names.Count));
                        tail = true;
                    }
                    else
                    {
                        throw new ArgumentException($"Route pattern '{pattern}': unknown specifier ':{spec}' in '{{{inner}}}'. Use {{{name}}} and give the handler parameter a type (int, Guid, ...), or {{{name}:path}} for the rest of the path.", nameof(pattern));
                    }
                    names.Add(name);
                    captures++;
                }
                pos = close + 1;
            }
            if (tokens.Count == 0) tokens.Add(Token.Literal(""));
            segments[s] = [.. tokens];
        }
        return new RoutePattern(pattern, segments, [.. names], tail, captures) { HasWildcard = wildcard };
    }

    /// <summary>Matches <paramref name="path"/>; on success <paramref name="captures"/> holds (start, length) per parameter. Allocates nothing.</summary>
    public bool TryMatch(string path, Span<int> captures)
    {
        if (path.Length == 0 || path[0] != '/') return false;
        var pos = 1;
        for (var s = 0; s < _segments.Length; s++)
        {
            var tokens = _segments[s];
            if (_tail && s == _segments.Length - 1)
            {
                // The rest of the path never holds an empty segment: "/files//etc/passwd" would make it absolute.
                if (pos < path.Length && path[pos] == '/' || path.AsSpan(pos).Contains("//", StringComparison.Ordinal)) return false;
                var index = tokens[0].Index;
                captures[2 * index] = pos;
                captures[2 * index + 1] = path.Length - pos;
                return true;
            }
            if (pos > path.Length) return false;
            var end = path.IndexOf('/', pos);
            if (end < 0) end = path.Length;
            if (!MatchTokens(path, pos, end, tokens, captures, s == _segments.Length - 1)) return false;
            pos = end + 1;
        }
        return pos == path.Length + 1;
    }

    /// <summary>
    /// Matches one segment's tokens (literals and parameters, never two parameters side by side) in linear time: a pass from
    /// the right finds, for each literal, the latest place it can start and still leave the rest matchable; a pass from the
    /// left then puts each literal at its earliest place within that bound. That is the lazy, leftmost result Bocadillo's
    /// patterns give (<c>{a}.{ext}</c> on "report.tar.gz" is "report" + "tar.gz"), without retrying split points.
    /// </summary>
    private static bool MatchTokens(string path, int start, int end, Token[] tokens, Span<int> captures, bool lastSegment)
    {
        var segment = path.AsSpan(0, end);
        var n = tokens.Length;
        Span<int> latest = n <= 16 ? stackalloc int[n] : new int[n];
        for (var i = n - 1; i >= 0; i--)
        {
            if (tokens[i].Kind != TokenKind.Literal) continue;
            var text = tokens[i].Text;
            if (i == n - 1)
            {
                latest[i] = end - text.Length;
                if (latest[i] < start || !segment[latest[i]..].SequenceEqual(text)) return false;
            }
            else
            {
                // The parameter after this literal needs at least one character before the next literal's latest start (or the end).
                var limit = (i + 2 < n ? latest[i + 2] : end) - 1;
                if (limit - text.Length < start) return false;
                var at = segment[start..limit].LastIndexOf(text, StringComparison.Ordinal);
                if (at < 0) return false;
                latest[i] = start + at;
            }
        }

        var pos = start;
        for (var i = 0; i < n; i++)
        {
            var token = tokens[i];
            if (token.Kind == TokenKind.Literal)
            {
                var text = token.Text;
                int at;
                if (i == 0) at = start;
                else if (i == n - 1) at = end - text.Length;
                else
                {
                    var found = pos + 1 <= latest[i] ? segment[(pos + 1)..(latest[i] + text.Length)].IndexOf(text, StringComparison.Ordinal) : -1;
                    if (found < 0) return false;
                    at = pos + 1 + found;
                }
                if (at > latest[i] || !segment[at..].StartsWith(text, StringComparison.Ordinal)) return false;
                if (i > 0)
                {
                    if (at - pos < 1) return false;
                    Capture(tokens[i - 1], pos, at - pos, captures);
                }
                pos = at + text.Length;
            }
            else if (i == n - 1)
            {
                // A named parameter needs a non-empty segment; an anonymous wildcard {} ending the pattern also matches an empty one ("/{}" answers "/").
                if (pos == end && (token.Index >= 0 || !lastSegment)) return false;
                if (pos > end) return false;
                Capture(token, pos, end - pos, captures);
                pos = end;
            }
        }
        return pos == end;
    }

    private static void Capture(Token token, int start, int length, Span<int> captures)
    {
        if (token.Index < 0) return;
        captures[2 * token.Index] = start;
        captures[2 * token.Index + 1] = length;
    }

    private static bool IsIdentifier(string name)
    {
        if (name.Length == 0 || char.IsAsciiDigit(name[0])) return false;
        foreach (var c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c == '_')) return false;
        return true;
    }

    /// <summary>Builds a path from parameter values (each escaped), for <c>UrlFor</c>.</summary>
    public string Format(IReadOnlyDictionary<string, object?> values)
    {
        var sb = new System.Text.StringBuilder();
        for (var s = 0; s < _segments.Length; s++)
        {
            sb.Append('/');
            foreach (var token in _segments[s])
            {
                if (token.Kind == TokenKind.Literal)
                {
                    sb.Append(token.Text);
                    continue;
                }
                if (token.Index < 0)
                    throw new InvalidOperationException($"Route '{Text}' has an anonymous '{{}}' segment, so no URL can be built for it.");
                var name = ParameterNames[token.Index];
                if (!TryGet(values, name, out var value) || value is null)
                    throw new ArgumentException($"UrlFor: route '{Text}' needs a value for '{name}'.", nameof(values));
                var text = Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
                if (token.Kind == TokenKind.Tail)
                    sb.AppendJoin('/', text.Split('/').Select(Uri.EscapeDataString));
                else
                    sb.Append(Uri.EscapeDataString(text));
            }
        }
        return sb.ToString();
    }

    private static bool TryGet(IReadOnlyDictionary<string, object?> values, string name, out object? value)
    {
        foreach (var pair in values)
        {
            if (string.Equals(pair.Key, name, StringComparison.OrdinalIgnoreCase))
            {
                value = pair.Value;
                return true;
            }
        }
        value = null;
        return false;
    }

    private enum TokenKind
    {
        Literal,
        Param,
        Tail,
    }

    private readonly record struct Token(TokenKind Kind, string Text, int Index)
    {
        public static Token Literal(string text) => new(TokenKind.Literal, text, -1);
        public static Token Param(int index) => new(TokenKind.Param, "", index);
        public static Token Tail(int index) => new(TokenKind.Tail, "", index);
    }
}
