namespace Bocata.Redis;

/// <summary>The backplane's Lua scripts, embedded resources of this assembly (<c>Scripts/*.lua</c>, each with a header of its
/// KEYS, ARGV and guarantees), read once.</summary>
internal static class RedisScripts
{
    /// <summary>The scripts that number events or settle the hub's epoch share <c>hub.lua</c> (the epoch and the horizon, said
    /// once): it is prepended to them.</summary>
    private static readonly string[] UsingHub = ["publish", "check", "lowwater", "listen"];

    public static string Load(string name) => UsingHub.Contains(name) ? Read("hub") + Read(name) : Read(name);

    private static string Read(string name)
    {
        using var stream = typeof(RedisScripts).Assembly.GetManifestResourceStream($"Bocata.Redis.Scripts.{name}.lua")
            ?? throw new InvalidOperationException($"The Redis script '{name}.lua' is not embedded in Bocata.Redis.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
