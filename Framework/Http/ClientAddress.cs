namespace Bocata;

/// <summary>The remote end of the connection.</summary>
/// <param name="Host">The remote IP address as text.</param>
/// <param name="Port">The remote port.</param>
public sealed record ClientAddress(string Host, int Port)
{
    /// <inheritdoc />
    public override string ToString() => $"{Host}:{Port}";
}
