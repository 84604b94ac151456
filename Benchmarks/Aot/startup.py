#!/usr/bin/env python3
"""Start-up and memory of one server build: time from process start to the first 200 on /plaintext (median of RUNS
starts), RSS once idle after that first response, and RSS after 10,000 keep-alive requests to /json.
Usage: startup.py PORT RUNS command... ; prints key=value pairs."""
import http.client, os, socket, statistics, subprocess, sys, time

port, runs, cmd = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
env = dict(os.environ, PORT=str(port), HOST="127.0.0.1", DOTNET_gcServer="0")

def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

def first_200(deadline):
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/plaintext")
            if c.getresponse().status == 200:
                c.close()
                return True
        except (ConnectionRefusedError, ConnectionResetError, socket.timeout, http.client.RemoteDisconnected, OSError):
            time.sleep(0.0005)
    return False

times, idle, loaded = [], [], []
for i in range(runs):
    start = time.monotonic()
    p = subprocess.Popen(["taskset", "-c", "0"] + cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not first_200(start + 30):
            print("failed=1"); sys.exit(1)
        times.append((time.monotonic() - start) * 1000)
        if i == 0:
            time.sleep(1.0)
            idle.append(rss_kb(p.pid))
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            for _ in range(10_000):
                c.request("GET", "/json")
                r = c.getresponse(); r.read()
            c.close()
            time.sleep(0.5)
            loaded.append(rss_kb(p.pid))
    finally:
        p.kill(); p.wait()
print(f"startup_ms={statistics.median(times):.1f} startup_min_ms={min(times):.1f} idle_rss_mb={idle[0]/1024:.1f} rss_after_10k_mb={loaded[0]/1024:.1f}")
