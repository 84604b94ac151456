using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Bocata;

/// <summary>
/// Kestrel's HTTPS services are registered only through <c>IWebHostBuilder.UseKestrelHttpsConfiguration()</c>. This shim
/// forwards that registration into Bocata's own service collection; nothing else of the web host is used or built.
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

    public static void AddKestrelHttps(IServiceCollection services)
    {
        // Kestrel's HTTPS initializer reads the environment name (for development certificates, which Bocata does not use).
        services.AddSingleton<Microsoft.Extensions.Hosting.IHostEnvironment>(new Microsoft.Extensions.Hosting.Internal.HostingEnvironment
        {
            EnvironmentName = "Production",
            ApplicationName = "Bocata",
            ContentRootPath = AppContext.BaseDirectory,
            ContentRootFileProvider = new Microsoft.Extensions.FileProviders.NullFileProvider(),
        });
        services.AddMetrics();
        new ServiceRegistrationShim(services).UseKestrelCore().UseKestrelHttpsConfiguration();
    }
}
