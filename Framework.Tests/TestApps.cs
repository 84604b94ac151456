using System.Net.Http.Json;
using System.Text.Json;

namespace Bocata.Tests;

/// <summary>Shared helpers: an app with the access log off (tests read their own output), JSON reading.</summary>
internal static class TestApps
{
    public static App Quiet(Action<Settings>? configure = null)
    {
        var app = new App();
        app.Configure(s =>
        {
            s.AccessLog = false;
            s.StaticDir = null;
            configure?.Invoke(s);
        });
        return app;
    }

    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response) =>
        await response.Content.ReadFromJsonAsync<JsonElement>();

    public static async Task<string> TextAsync(this HttpResponseMessage response) =>
        await response.Content.ReadAsStringAsync();
}
