namespace Bocata;

/// <summary>
/// Configuration mistakes that Bocata reports by throwing (a bad pattern or handler signature, a missing secret, a bad PORT) are
/// printed as their message and end the process with exit code 1, instead of the runtime's unhandled-exception dump (exit 134)
/// around that message. Only exceptions thrown by Bocata itself are handled so; anything else keeps .NET's behaviour.
/// </summary>
internal static class StartupErrors
{
    private static int s_installed;

    public static void Install()
    {
        if (Interlocked.Exchange(ref s_installed, 1) == 1) return;
        AppDomain.CurrentDomain.UnhandledException += static (_, e) =>
        {
            if (e.ExceptionObject is not Exception error || !IsMistake(error)) return;
            Console.Error.WriteLine(Describe(error));
            Environment.Exit(1);
        };
    }

    /// <summary>An argument or configuration error raised by Bocata's own code (not by a handler at run time).</summary>
    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "TargetSite only picks the message's format: where trimming removed the method's metadata it is null and the error prints as an ordinary unhandled exception.")]
    public static bool IsMistake(Exception e) =>
        e is ArgumentException or InvalidOperationException or FormatException
        && e.TargetSite?.DeclaringType is { } type && (type.Assembly == typeof(App).Assembly || type.DeclaringType?.Assembly == typeof(App).Assembly);

    public static string Describe(Exception e) => $"Bocata could not start: {e.Message}";
}
