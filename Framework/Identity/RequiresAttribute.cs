namespace Bocata;

/// <summary>Only users with every one of these names may call the view, view method or <c>[Route]</c> method: "authenticated"
/// (any signed-in user), or a role or scope of the user. Without a credential: 401; lacking a name: 403.</summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = true)]
public sealed class RequiresAttribute(params string[] names) : Attribute
{
    /// <summary>The names required, all of them.</summary>
    public IReadOnlyList<string> Names { get; } = Requirements.Checked(names);
}
