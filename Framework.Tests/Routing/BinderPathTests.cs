using System.Net;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Routing;

/// <summary>
/// Which binder bound the typed handlers: in Bocata.Tests the runtime one (reflection, compiled expressions); in
/// Bocata.Tests.Generated, compiled with the source generator on, generated code — the runtime binder compiles nothing. The
/// same requests get the same answers both ways (this file and the binding tests are compiled into both test projects).
/// </summary>
[NonParallelizable]
public class BinderPathTests
{
    internal sealed class Greeter
    {
        public string Greet(string name) => $"hello {name}";
    }

    internal enum Size
    {
        Small,
        Large,
    }

    [Test]
    public async Task Typed_handlers_are_bound_by_the_expected_binder_with_the_same_answers()
    {
        var before = ParameterBinder.Compilations;
        var app = TestApps.Quiet();
        app.Provide(() => new Greeter(), ProviderScope.App);
        app.Get("/items/{id}", (Request req, Response res, int id, [System.ComponentModel.DataAnnotations.Range(1, 50)] int limit = 10, Size size = Size.Small) =>
            res.Text = $"{id}:{limit}:{size}");
        app.Get("/greet/{name}", async (Request req, Response res, string name, Greeter greeter) =>
        {
            await Task.Yield();
            res.Text = greeter.Greet(name);
        });
        app.Route("/value/{n}", (Request req, Response res, double n) => Task.FromResult(res.Text = (n * 2).ToString(System.Globalization.CultureInfo.InvariantCulture)), "GET", "POST");
        await using var client = app.CreateClient();

        (await client.GetStringAsync("/items/7?limit=3&size=large")).Should().Be("7:3:Large");
        (await client.GetStringAsync("/items/7")).Should().Be("7:10:Small");
        using var bad = await client.GetAsync("/items/x?limit=99");
        bad.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        var detail = (await bad.JsonAsync()).GetProperty("detail");
        detail.GetProperty("id").GetString().Should().Be("Must be a number.");
        detail.GetProperty("limit").GetString().Should().Be("Must be less than or equal to 50.");
        (await client.GetStringAsync("/greet/ana")).Should().Be("hello ana");
        (await client.PostAsync("/value/1.5", null)).Content.ReadAsStringAsync().Result.Should().Be("3");

        var compiled = ParameterBinder.Compilations - before;
#if BOCATA_GENERATED
        compiled.Should().Be(0, "the source generator bound every typed handler");
#else
        compiled.Should().Be(3, "without the generator the runtime binder compiles each typed handler");
#endif
    }

    [Test]
    public void A_parameter_that_cannot_be_bound_is_refused_when_the_app_starts_with_the_same_message()
    {
        var app = TestApps.Quiet();
        app.Get("/x", (Request req, Response res, Greeter greeter) => res.Text = greeter.Greet("x"));

        FluentActions.Invoking(() => app.CreateClient()).Should().Throw<ArgumentException>()
            .WithMessage("The handler for '/x': parameter 'greeter' (Greeter) is not in the pattern and is not a provided service.*");
    }
}
