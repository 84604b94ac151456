namespace Bocata;

/// <summary>A backplane could not confirm a publish in time (its store is unreachable or slow): the event may or may not have
/// been published. Unhandled in a handler, it answers <c>503 Service Unavailable</c> with <c>Retry-After: 1</c>.</summary>
public sealed class BackplaneUnavailableException : TimeoutException
{
    /// <summary>Creates the exception with what happened and what to do.</summary>
    public BackplaneUnavailableException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
