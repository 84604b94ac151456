using BenchmarkDotNet.Attributes;

namespace Bocata.Benchmarks.Micro;

/// <summary>Route matching: a static path, a parameterised pattern, and the last pattern of a 50-route table.</summary>
[MemoryDiagnoser]
public class RoutingBenchmarks
{
    private readonly RoutePattern _param = RoutePattern.Parse("/items/{id}");
    private readonly RoutePattern[] _table = Enumerable.Range(0, 50).Select(i => RoutePattern.Parse($"/resource{i}/{{id}}/detail")).ToArray();
    private readonly System.Collections.Frozen.FrozenDictionary<string, int> _static =
        System.Collections.Frozen.FrozenDictionary.ToFrozenDictionary(Enumerable.Range(0, 50).Select(i => new KeyValuePair<string, int>($"/static{i}", i)));
    private readonly RouteValues _values = new();

    [Benchmark]
    public int StaticLookup() => _static.TryGetValue("/static42", out var v) ? v : -1;

    [Benchmark]
    public bool ParameterMatch() => _param.TryMatch("/items/12345", _values.Captures);

    [Benchmark]
    public int FiftyRouteTableLastMatch()
    {
        const string path = "/resource49/777/detail";
        for (var i = 0; i < _table.Length; i++)
            if (_table[i].TryMatch(path, _values.Captures)) return i;
        return -1;
    }

    private readonly RouteTable _fiftyRoutes = BuildTable();

    private static RouteTable BuildTable()
    {
        var app = new App();
        app.Configure(s => s.LoggerFactory = Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        for (var i = 0; i < 50; i++) app.Route($"/resource{i}/{{id}}/detail", (Request req, Response res, int id) => { });
        return app.Table;
    }

    [Benchmark]
    public bool FiftyRouteTableDispatchLookup() => _fiftyRoutes.Match("/resource49/777/detail", _values);

    [Benchmark]
    public int BindIntParameter()
    {
        _param.TryMatch("/items/12345", _values.Captures);
        _values.Set("/items/12345", _param);
        return Bind.TryConvert(_values.GetSpan(0), out int id) ? id : -1;
    }
}
