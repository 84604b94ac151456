#!/usr/bin/env bash
# Topics side by side: ASP.NET Core minimal APIs with the registry a .NET developer writes by hand (topic → bounded
# channels of its subscribers) against Bocata's hub of topics. CLIENTS streams, each of its own user topic and one of
# 100 rooms; RATE publishes/s, alternately to a random user (1 subscriber) and a random room (CLIENTS/100 subscribers).
# Servers pinned to core 0, the load client to core 1; ROUNDS alternating rounds.
# Then, once per server (MAX=0 skips it), the highest sustained rate: rising rates until a step loses an event or the server
# cannot take publishes at 95 % of the rate (SseLoad topics-max; a 10 s warm-up, 5 s steps).
# Usage: bash Benchmarks/Load/topics.sh     (CLIENTS=10000 RATE=200 DURATION=10 ROUNDS=3 MAX=1 to change the defaults)
set -euo pipefail
cd "$(dirname "$0")/../.."
here=Benchmarks/Load
CLIENTS=${CLIENTS:-10000}
RATE=${RATE:-200}
# DURATION, not SECONDS: bash sets SECONDS itself (seconds since the shell started: 0 here, so runs of 0 s).
SECONDS_PER_RUN=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
for p in MinimalApi BocataServer SseLoad; do dotnet build -c Release --nologo -v q "$here/$p/$p.csproj" >/dev/null; done
bin() { echo "$here/$1/bin/Release/net10.0/$1.dll"; }
declare -A PORT=([minimal]=5102 [bocata]=5103) DLL=([minimal]=$(bin MinimalApi) [bocata]=$(bin BocataServer))
out=$here/results; mkdir -p "$out"; : >"$out/topics.tsv"
serve() { # server -> sets pid once it answers (pinned to core 0)
  PORT=${PORT[$1]} HOST=127.0.0.1 DOTNET_gcServer=0 taskset -c 0 dotnet "${DLL[$1]}" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:${PORT[$1]}/plaintext" >/dev/null && break; sleep 0.2; done
}
for r in $(seq 1 "$ROUNDS"); do
  for s in minimal bocata; do
    serve "$s"
    line=$(taskset -c 1 dotnet "$(bin SseLoad)" topics "http://127.0.0.1:${PORT[$s]}" "$CLIENTS" "$RATE" "$SECONDS_PER_RUN" "$pid" || echo failed)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$r $s $line" | tee -a "$out/topics.tsv"
  done
done
if [ "${MAX:-1}" != 0 ]; then
  for s in minimal bocata; do
    serve "$s"
    line=$(taskset -c 1 dotnet "$(bin SseLoad)" topics-max "http://127.0.0.1:${PORT[$s]}" "$CLIENTS" 5 2>"$out/topics-max-$s.log" || echo failed)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    sed "s/^/  /" "$out/topics-max-$s.log"
    echo "max $s $line" | tee -a "$out/topics.tsv"
  done
fi
