// Publishes to an event file until it is killed: `Bocata.Tests.SqlitePublisher <file> <publishers> <topics>`. Prints "ready"
// once the hub is open, then "<topic> <number> ok" for each publish after it returned (so every printed number is one the
// backplane confirmed). The crash test kills it with SIGKILL mid-burst and checks that a new hub on the file has every
// printed number, once, in order.
using Bocata;
using Bocata.Sqlite;

var path = args[0];
var publishers = int.Parse(args[1]);
var topics = int.Parse(args[2]);
var hub = new EventHub(replay: 1000, backplane: await SqliteBackplane.OpenAsync(path, maxEventsPerTopic: 1_000_000));
Console.WriteLine("ready");
await Task.WhenAll(Enumerable.Range(0, publishers).Select(p => Task.Run(async () =>
{
    for (var i = 0; ; i++)
    {
        var topic = (p + i) % (topics + 1) is var t && t == topics ? "" : $"t{t}";
        var published = await (topic.Length == 0 ? hub.PublishAsync(new ServerEvent(data: $"{p}:{i}")) : hub.PublishAsync(topic, new ServerEvent(data: $"{p}:{i}")));
        Console.WriteLine($"{(topic.Length == 0 ? "-" : topic)} {published.Id} ok");
    }
})));
