#!/usr/bin/env bash
# Telemetry overhead: pipelined /plaintext on a build of the commit before telemetry landed, on this build with nobody
# listening, and on this build with every Bocata instrument and trace listened to. Same machine, same run, alternating.
# Usage: bash Benchmarks/Load/telemetry.sh [BASE_COMMIT]     (default: the commit before "Telemetry:")
set -euo pipefail
cd "$(dirname "$0")/../.."
here=Benchmarks/Load
base=${1:-$(git log --format=%H --grep='^Telemetry:' -n 1)~1}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; git worktree remove --force "$work/before" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
git worktree add -q "$work/before" "$base"
dotnet build -c Release --nologo -v q "$work/before/$here/BocataServer/BocataServer.csproj" >/dev/null
dotnet build -c Release --nologo -v q "$here/BocataServer/BocataServer.csproj" >/dev/null
declare -A PORT=([before]=5031 [off]=5032 [listened]=5033)
start() { PORT=$2 HOST=127.0.0.1 "${@:3}" taskset -c 0 dotnet "$1" >/dev/null 2>&1 & pids+=($!); }
start "$work/before/$here/BocataServer/bin/Release/net10.0/BocataServer.dll" 5031
start "$here/BocataServer/bin/Release/net10.0/BocataServer.dll" 5032
start "$here/BocataServer/bin/Release/net10.0/BocataServer.dll" 5033 env LISTEN=1
for p in 5031 5032 5033; do for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$p/plaintext" >/dev/null && break; sleep 0.2; done; done
run() { taskset -c 1 wrk -t1 -c32 -d"$2"s -s "$here/pipeline.lua" "http://127.0.0.1:$1/plaintext" -- 16 2>/dev/null | awk '/Requests\/sec/ {print $2}'; }
for s in before off listened; do run "${PORT[$s]}" 3 >/dev/null; run "${PORT[$s]}" 3 >/dev/null; done
declare -A R
for round in 1 2 3; do for s in before off listened; do R[$s]+="$(run "${PORT[$s]}" 5) "; done; done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
b=$(echo "${R[before]}" | median); o=$(echo "${R[off]}" | median); l=$(echo "${R[listened]}" | median)
awk -v b="$b" -v o="$o" -v l="$l" 'BEGIN {printf "pipelined /plaintext req/s (median of 3): before telemetry %.0f, telemetry with no listener %.0f (%.3f×), with every instrument and trace listened to %.0f (%.3f×)\n", b, o, o/b, l, l/b}' | tee "$here/results/telemetry.md"
