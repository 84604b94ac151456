using BenchmarkDotNet.Running;

// dotnet run -c Release --project Benchmarks/Micro -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Bocata.Benchmarks.Micro.RoutingBenchmarks).Assembly).Run(args);
