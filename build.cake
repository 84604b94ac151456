// Bocata's build script: dotnet tool restore && dotnet cake --target=Test
var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var solution = "./Bocata.slnx";

Task("Clean")
    .Does(() =>
{
    CleanDirectories("./**/bin/" + configuration);
    CleanDirectories("./**/obj/" + configuration);
    CleanDirectory("./artifacts");
});

Task("Build")
    .Does(() =>
{
    DotNetBuild(solution, new DotNetBuildSettings { Configuration = configuration });
});

Task("Test")
    .IsDependentOn("Build")
    .Does(() =>
{
    DotNetTest(solution, new DotNetTestSettings { Configuration = configuration, NoBuild = true });
});

Task("Pack")
    .IsDependentOn("Test")
    .Does(() =>
{
    // Bocata, Bocata.Redis, Bocata.Sqlite and Bocata.Templates, with their .snupkg symbol packages.
    foreach (var project in new[] { "./Framework/Framework.csproj", "./Framework.Redis/Framework.Redis.csproj", "./Framework.Sqlite/Framework.Sqlite.csproj", "./Templates/Bocata.Templates.csproj" })
    {
        DotNetPack(project, new DotNetPackSettings
        {
            Configuration = configuration,
            OutputDirectory = "./artifacts",
        });
    }
});

Task("Bench")
    .Does(() =>
{
    var exit = StartProcess("bash", new ProcessSettings { Arguments = "Benchmarks/Load/run.sh" });
    if (exit != 0) throw new Exception($"Benchmarks/Load/run.sh failed with exit code {exit}.");
});

RunTarget(target);
