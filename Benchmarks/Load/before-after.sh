#!/usr/bin/env bash
# Bocata against an earlier Bocata, side by side in one run: the 10,000-subscriber broadcast (memory per connection,
# publish-to-receive p50/p99) and the topics run (10,000 streams of a user topic and a room, RATE publishes/s), in memory
# and on Redis (REDIS=host:port puts both servers' hubs on a RedisBackplane). The servers at BASE and at the working tree
# are built side by side, pinned to core 0, the load client to core 1, alternating rounds.
# Usage: bash Benchmarks/Load/before-after.sh BASE_COMMIT    (CLIENTS=10000 RATE=200 DURATION=10 ROUNDS=3 REDIS=... to change)
set -euo pipefail
cd "$(dirname "$0")/../.."
here=Benchmarks/Load
out=$here/results
mkdir -p "$out"
BASE=${1:?give the commit to compare with}
CLIENTS=${CLIENTS:-10000}
RATE=${RATE:-200}
SECONDS_PER_RUN=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
ulimit -n 65536 || true

base_tree=$(mktemp -d)
git worktree add -q --detach "$base_tree" "$BASE"
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; git worktree remove --force "$base_tree" 2>/dev/null || true; }
trap cleanup EXIT
dotnet build -c Release --nologo -v q "$base_tree/$here/BocataServer/BocataServer.csproj" >/dev/null
for p in BocataServer SseLoad; do dotnet build -c Release --nologo -v q "$here/$p/$p.csproj" >/dev/null; done
bin() { echo "$1/$here/$2/bin/Release/net10.0/$2.dll"; }

declare -A PORT=([before]=5101 [after]=5102)
declare -A DLL=([before]=$(bin "$base_tree" BocataServer) [after]=$(bin . BocataServer))
PIDS=()
start() { # name -> pid
  env PORT="${PORT[$1]}" HOST=127.0.0.1 DOTNET_gcServer=0 TOPIC="ba-$1-$RANDOM" ${REDIS:+REDIS=$REDIS} taskset -c 0 dotnet "${DLL[$1]}" >"$out/before-after-$1.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:${PORT[$1]}/plaintext" >/dev/null && break; sleep 0.2; done
  echo "$pid"
}
load() { taskset -c 1 dotnet "$(bin . SseLoad)" "$@"; }

report=$out/before-after.md
{
  echo "# Bocata $BASE (before) against $(git rev-parse --short HEAD)+working tree (after)"
  echo
  echo "$CLIENTS clients, $ROUNDS alternating rounds${REDIS:+, hubs on Redis $REDIS}; one line per run as SseLoad prints it."
  echo
} >"$report"
for r in $(seq 1 "$ROUNDS"); do
  for s in before after; do
    pid=$(start "$s"); PIDS+=("$pid")
    line=$(load scale "http://127.0.0.1:${PORT[$s]}" "$CLIENTS" 10 "$pid" || echo failed)
    echo "round $r $s broadcast: $line" | tee -a "$report"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    pid=$(start "$s"); PIDS+=("$pid")
    line=$(load topics "http://127.0.0.1:${PORT[$s]}" "$CLIENTS" "$RATE" "$SECONDS_PER_RUN" "$pid" || echo failed)
    echo "round $r $s topics: $line" | tee -a "$report"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
echo "written to $report"
