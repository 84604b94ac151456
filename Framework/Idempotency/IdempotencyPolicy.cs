using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace Bocata;

/// <summary>
/// <c>.Idempotent()</c> of a route: a POST, PUT, PATCH or DELETE that carries an <c>Idempotency-Key</c> header (IETF httpapi
/// draft "The Idempotency-Key HTTP Header Field") runs once; a retry with the same key and the same request gets the first
/// response again (with <c>Idempotent-Replayed: true</c>), a retry while the first still runs gets 409, and the same key with a
/// different request 422. A handler that failed (an exception, or a 5xx) keeps nothing: its retry runs again. Keys belong to
/// the route and to the signed-in user, so one user's key never answers with another's response.
/// </summary>
internal sealed class IdempotencyPolicy(TimeSpan window, bool required)
{
    private const string Header = "Idempotency-Key";

    /// <summary>The longest key accepted (the draft's keys are UUIDs; this leaves room for any client's scheme).</summary>
    private const int MaxKeyLength = 255;

    /// <summary>The largest response kept for a replay; a bigger one is answered once and its retries get 409.</summary>
    internal const int MaxStoredBody = 1024 * 1024;

    public TimeSpan Window { get; } = window > TimeSpan.Zero ? window
        : throw new ArgumentOutOfRangeException(nameof(window), window, "Idempotent's window must be a positive duration (how long a key is remembered), e.g. .Idempotent(TimeSpan.FromHours(24)).");

    public Handler Wrap(Handler inner, string route) => async (req, res) =>
    {
        if (req.Method is "GET" or "HEAD" or "OPTIONS" or "TRACE")
        {
            await inner(req, res);
            return;
        }
        var key = ReadKey(req);
        if (key is null)
        {
            if (required) throw new HttpError(400, $"This endpoint needs an {Header} header (a unique value per operation, e.g. a UUID) so that a retry cannot apply it twice.");
            await inner(req, res);
            return;
        }
        var settings = req.Context.Server.Settings;
        var store = settings.IdempotencyStore;
        var user = req.User.Identity is { IsAuthenticated: true, Name: { } name } ? name : "";
        var storeKey = $"{req.Method} {route}\n{user}\n{key}";
        var fingerprint = await FingerprintAsync(req);
        // A reservation outlives the longest a request may run here, so a retry never overtakes a first attempt still running.
        var lease = settings.ShutdownTimeout + TimeSpan.FromMinutes(1);
        var held = await store.TryReserveAsync(storeKey, fingerprint, lease, req.Aborted);
        if (held is not null)
        {
            Answer(res, held, fingerprint);
            return;
        }
        var stored = false;
        try
        {
            await inner(req, res);
            if (res.StatusCode < 500 && Capture(req, res, fingerprint) is { } entry)
            {
                await store.CompleteAsync(storeKey, entry, Window, CancellationToken.None);
                stored = true;
            }
        }
        finally
        {
            if (!stored) await store.ReleaseAsync(storeKey, CancellationToken.None);
        }
    };

    private static string? ReadKey(Request req)
    {
        var raw = req.Headers[Header];
        if (raw is null) return null;
        // The draft's field is a Structured Field String ("…"); a bare token is accepted too, as most clients send one.
        var value = raw.Trim();
        if (value.Length >= 2 && value[0] == '"' && value[^1] == '"') value = value[1..^1];
        if (value.Length is 0 or > MaxKeyLength || value.Any(c => c < 0x20 || c > 0x7E))
            throw new HttpError(400, $"{Header} must be 1 to {MaxKeyLength} printable ASCII characters, e.g. a UUID.");
        return value;
    }

    private static async Task<string> FingerprintAsync(Request req)
    {
        var body = await req.BodyAsync();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(req.Method + " " + req.Url.PathAndQuery + "\n"));
        hash.AppendData(body);
        return Convert.ToHexString(hash.GetHashAndReset());
    }

    private static void Answer(Response res, IdempotentEntry held, string fingerprint)
    {
        if (!string.Equals(held.Fingerprint, fingerprint, StringComparison.Ordinal))
            throw new HttpError(422, $"This {Header} was used for a different request: send a new key for a new operation.");
        if (!held.Completed)
        {
            var busy = new HttpError(409, $"A request with this {Header} is still being processed: retry when it has finished.");
            busy.Headers["Retry-After"] = "1";
            throw busy;
        }
        if (held.Status == 0)
            throw new HttpError(409, $"A request with this {Header} was already processed; its response was too large to keep for a replay.");
        res.StatusCode = held.Status;
        foreach (var (name, value) in held.Headers) res.Headers.Append(name, value);
        res.Headers["Idempotent-Replayed"] = "true";
        res.Content = held.Body;
    }

    /// <summary>The response as it will be written, for replays; a streamed or file body cannot be replayed and is kept as
    /// "answered" (status 0), so its retries are refused rather than run twice.</summary>
    private static IdempotentEntry? Capture(Request req, Response res, string fingerprint)
    {
        byte[]? body = res.Kind switch
        {
            BodyKind.None => [],
            BodyKind.Text => Encoding.UTF8.GetBytes((string)res.Body!),
            BodyKind.Json => ResponseWriter.SerializeJson(new ArrayBufferWriter<byte>(256), res.Body!, req.Context.Server.Settings.Json).ToArray(),
            BodyKind.Bytes => (byte[])res.Body!,
            _ => null,
        };
        if (body is null || body.Length > MaxStoredBody) return new IdempotentEntry { Fingerprint = fingerprint, Completed = true };
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var header in res.Headers) headers.Add(header);
        if (res.DefaultMediaType is { } mediaType && !res.Headers.Contains("Content-Type")) headers.Add(new("Content-Type", mediaType));
        return new IdempotentEntry { Fingerprint = fingerprint, Completed = true, Status = res.StatusCode, Headers = headers, Body = body };
    }
}
