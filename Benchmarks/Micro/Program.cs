using BenchmarkDotNet.Running;

// dotnet run -c Release --project Benchmarks/Micro -- --filter '*'
// dotnet run -c Release --project Benchmarks/Micro -- idle-topics [COUNT]: memory of COUNT idle topics and what comes back.
if (args is ["idle-topics", ..])
{
    Bocata.Benchmarks.Micro.IdleTopics.Run(args.Length > 1 ? int.Parse(args[1]) : 1_000_000);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Bocata.Benchmarks.Micro.RoutingBenchmarks).Assembly).Run(args);
