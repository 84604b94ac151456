using System.Diagnostics.Metrics;
using Bocata.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Bocata.Tests.Hosting;

[NonParallelizable]
public class KestrelHostTests
{
    [Test]
    public async Task The_transport_runs_on_kestrels_pinned_block_memory_pool()
    {
        // The pool ASP.NET Core's host registers reports on this meter; the plain array pool a hand-built transport falls
        // back to reports nothing. Its counters move only once connections rent blocks.
        long rented = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Microsoft.AspNetCore.MemoryPool") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (instrument.Name == "aspnetcore.memory_pool.rented") Interlocked.Add(ref rented, value);
        });
        listener.Start();

        var app = TestApps.Quiet();
        app.Route("/", (req, res) => res.Text = "hello");
        await using var client = app.CreateClient();
        for (var i = 0; i < 5; i++) (await client.GetStringAsync("/")).Should().Be("hello");

        Interlocked.Read(ref rented).Should().BeGreaterThan(0, "Kestrel's pinned block pool served the connection's buffers");
    }

    [Test]
    public async Task Kestrels_own_meters_report_connections()
    {
        var names = new HashSet<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Microsoft.AspNetCore.Server.Kestrel") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, _, _, _) =>
        {
            lock (names) names.Add(instrument.Name);
        });
        listener.Start();

        var app = TestApps.Quiet();
        app.Route("/", (req, res) => res.Text = "hello");
        await using var client = app.CreateClient();
        (await client.GetStringAsync("/")).Should().Be("hello");

        lock (names) names.Should().Contain("kestrel.active_connections");
    }
}
