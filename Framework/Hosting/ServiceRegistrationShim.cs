using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Bocata;

/// <summary>
/// Kestrel's services are registered only through <c>IWebHostBuilder</c> extensions (<c>UseKestrelCore</c>, <c>UseKestrelHttpsConfiguration</c>).
/// This shim forwards those registrations into a service collection of Bocata's own; nothing else of the web host is used or built.
/// </summary>
internal sealed class ServiceRegistrationShim(IServiceCollection services) : IWebHostBuilder
{
#pragma warning disable ASPDEPR008 // The interface requires it; it is never called.
    public IWebHost Build() => throw new NotSupportedException("Bocata does not build a web host.");
#pragma warning restore ASPDEPR008

    public IWebHostBuilder ConfigureAppConfiguration(Action<WebHostBuilderContext, Microsoft.Extensions.Configuration.IConfigurationBuilder> configureDelegate) => this;

    public IWebHostBuilder ConfigureServices(Action<IServiceCollection> configureServices)
    {
        configureServices(services);
        return this;
    }

    public IWebHostBuilder ConfigureServices(Action<WebHostBuilderContext, IServiceCollection> configureServices)
    {
        configureServices(new WebHostBuilderContext(), services);
        return this;
    }

    public string? GetSetting(string key) => null;

    public IWebHostBuilder UseSetting(string key, string? value) => this;

    /// <summary>Kestrel and its transport, memory pool, metrics and HTTPS services, registered exactly as <c>UseKestrel</c> registers them.</summary>
    public static ServiceProvider KestrelServices(ILoggerFactory loggers, Action<KestrelServerOptions> configure)
    {
        var services = new ServiceCollection();
        services.AddSingleton(loggers);
        services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        services.AddOptions();
        services.AddMetrics();
        // Kestrel reports bad requests to diagnostic listeners under the host's name; free while nobody listens.
        var diagnostics = new System.Diagnostics.DiagnosticListener("Microsoft.AspNetCore");
        services.AddSingleton(diagnostics);
        services.AddSingleton<System.Diagnostics.DiagnosticSource>(diagnostics);
        // Kestrel's HTTPS initializer reads the environment name (for development certificates, which Bocata does not use).
        services.AddSingleton<Microsoft.Extensions.Hosting.IHostEnvironment>(new Microsoft.Extensions.Hosting.Internal.HostingEnvironment
        {
            EnvironmentName = "Production",
            ApplicationName = "Bocata",
            ContentRootPath = AppContext.BaseDirectory,
            ContentRootFileProvider = new Microsoft.Extensions.FileProviders.NullFileProvider(),
        });
        var builder = new ServiceRegistrationShim(services).UseKestrelCore();
        HttpsSupport.Register(builder);
        builder.ConfigureKestrel(configure);
        return services.BuildServiceProvider();
    }
}
