namespace Bocata;

/// <summary>Bocadillo's <c>methods=all</c>: <c>app.Route("/anything", handler, Methods.All)</c> answers every HTTP method.</summary>
public static class Methods
{
    /// <summary>Every method (a fresh array each time).</summary>
    public static string[] All => ["*"];
}

/// <summary>Bocadillo's <c>caught_close_codes=all</c>: <c>app.WebSocketRoute("/ws", handler, caughtCloseCodes: CloseCodes.All)</c>
/// ends the handler quietly whatever close code the client sends.</summary>
public static class CloseCodes
{
    /// <summary>The close codes Bocadillo lists (RFC 6455 section 7.4.1): 1000-1003, 1005-1011 and 1015.</summary>
    public static int[] All => [1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1015];
}
