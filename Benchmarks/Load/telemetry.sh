#!/usr/bin/env bash
# Telemetry overhead, pipelined /plaintext, same machine, same run, alternating rounds:
#   Bocata at the commit before telemetry landed; this build with nobody listening; this build with each listener of
#   Shared/Listeners.cs (metrics, traces for every request, the production setup "sampled" = metrics + 10 % of traces,
#   and everything); and ASP.NET Core minimal APIs with the same listeners on its own hosting meter and activity source.
# Usage: bash Benchmarks/Load/telemetry.sh [BASE_COMMIT]     (default: the commit before "Telemetry:")
# ROUNDS (5) and DURATION (4 s) override the defaults; results/telemetry.md gets the table.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=Benchmarks/Load
base=${1:-$(git log --format=%H --grep='^Telemetry:' --reverse | head -1)~1}
rounds=${ROUNDS:-5}
duration=${DURATION:-4}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; git worktree remove --force "$work/before" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
git worktree add -q "$work/before" "$base"
dotnet build -c Release --nologo -v q "$work/before/$here/BocataServer/BocataServer.csproj" >/dev/null
dotnet build -c Release --nologo -v q "$here/BocataServer/BocataServer.csproj" >/dev/null
dotnet build -c Release --nologo -v q "$here/MinimalApi/MinimalApi.csproj" >/dev/null
bocata=$here/BocataServer/bin/Release/net10.0/BocataServer.dll
minimal=$here/MinimalApi/bin/Release/net10.0/MinimalApi.dll
modes="0 metrics traces sampled all"
keys="before"
declare -A PORT DLL LISTEN
PORT[before]=5030; DLL[before]=$work/before/$here/BocataServer/bin/Release/net10.0/BocataServer.dll; LISTEN[before]=0
port=5030
for server in bocata minimal; do
  for mode in $modes; do
    port=$((port + 1)); key=$server-$mode; keys+=" $key"
    PORT[$key]=$port; LISTEN[$key]=$mode
    if [ "$server" = bocata ]; then DLL[$key]=$bocata; else DLL[$key]=$minimal; fi
  done
done
for key in $keys; do
  PORT=${PORT[$key]} HOST=127.0.0.1 LISTEN=${LISTEN[$key]} taskset -c 0 dotnet "${DLL[$key]}" >/dev/null 2>&1 &
  pids+=($!)
done
for key in $keys; do for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:${PORT[$key]}/plaintext" >/dev/null && break; sleep 0.2; done; done
run() { taskset -c 1 wrk -t1 -c32 -d"$2"s -s "$here/pipeline.lua" "http://127.0.0.1:$1/plaintext" -- 16 2>/dev/null | awk '/Requests\/sec/ {print $2}'; }
# Warm-up: pinned to one core, a server needs 15-20 s of load before tiered compilation (with PGO) is done — measured
# with perf: the tiering thread still took 6 % of the core after 12 s, none after 30 s.
for key in $keys; do for _ in 1 2 3 4; do run "${PORT[$key]}" 5 >/dev/null; done; done
declare -A R
for _ in $(seq 1 "$rounds"); do for key in $keys; do R[$key]+="$(run "${PORT[$key]}" "$duration") "; done; done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A M
for key in $keys; do M[$key]=$(echo "${R[$key]}" | median); done
{
  echo "Pipelined /plaintext, req/s, median of $rounds × ${duration} s rounds (server on one core, wrk on the other)."
  echo "Bocata before telemetry ($(git rev-parse --short "$base")): ${M[before]%.*}; Bocata with nobody listening: ${M[bocata-0]%.*} ($(awk -v a="${M[bocata-0]}" -v b="${M[before]}" 'BEGIN {printf "%.3f", a/b}')× before)."
  echo
  echo "| listener | Bocata req/s | Bocata vs unlistened | minimal APIs req/s | minimal vs unlistened |"
  echo "|---|---|---|---|---|"
  for mode in $modes; do
    awk -v m="$mode" -v b="${M[bocata-$mode]}" -v b0="${M[bocata-0]}" -v n="${M[minimal-$mode]}" -v n0="${M[minimal-0]}" \
      'BEGIN {printf "| %s | %.0f | %.3f× | %.0f | %.3f× |\n", (m == "0" ? "none" : m), b, b/b0, n, n/n0}'
  done
  echo
  echo "Every round (req/s):"
  echo
  for key in $keys; do echo "- $key: ${R[$key]}"; done
} | tee "$here/results/telemetry.md"
