#!/usr/bin/env bash
# Native AOT side by side: Bocata and ASP.NET Core minimal APIs (CreateSlimBuilder, the Request Delegate Generator,
# source-generated JSON), the same endpoints, each published Native AOT and JIT (framework-dependent), in one run:
# binary size, start-up to the first 200, RSS idle and after 10,000 requests, pipelined plaintext and JSON requests/s
# (wrk, 256 connections, depth 16), and a 10,000-client SSE broadcast p99 (SseLoad). Servers on core 0, clients on core 1.
# Usage: bash Benchmarks/Aot/aot.sh     (RUNS=10 DURATION=5 ROUNDS=3 CLIENTS=10000 to change the defaults)
set -euo pipefail
cd "$(dirname "$0")/../.."
here=Benchmarks/Aot
out=$here/out
results=$here/results
mkdir -p "$out" "$results"
RUNS=${RUNS:-10}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-10000}
need() { command -v "$1" >/dev/null 2>&1 || { echo "installing $2"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need clang clang
need taskset util-linux
[ -e /usr/include/zlib.h ] || { echo "installing zlib1g-dev"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zlib1g-dev >/dev/null; }
ulimit -n 65536 || true

declare -A PROJECT=([bocata]=BocataAot [minimal]=MinimalAot)
declare -A PORT=([bocata-aot]=5101 [bocata-jit]=5102 [minimal-aot]=5103 [minimal-jit]=5104)
variants=(bocata-aot minimal-aot bocata-jit minimal-jit)
for f in bocata minimal; do
  p=${PROJECT[$f]}
  rm -rf "$out/$f-aot" "$out/$f-jit"
  dotnet publish "$here/$p/$p.csproj" -c Release -r linux-x64 -p:PublishAot=true -o "$out/$f-aot" --nologo -v q >/dev/null
  dotnet publish "$here/$p/$p.csproj" -c Release -r linux-x64 --self-contained false -o "$out/$f-jit" --nologo -v q >/dev/null
done
dotnet build -c Release --nologo -v q Benchmarks/Load/SseLoad/SseLoad.csproj >/dev/null
exe() { local f=${1%-*}; echo "$out/$1/${PROJECT[$f]}"; }
size_mb() {
  # Native: the one binary. JIT: the app's own files (it also needs the shared .NET runtime, not counted).
  if [[ $1 == *-aot ]]; then stat -c %s "$(exe "$1")" | awk '{printf "%.1f", $1/1048576}'
  else find "$out/$1" -type f ! -name '*.pdb' ! -name '*.xml' -printf '%s\n' | awk '{s+=$1} END {printf "%.1f", s/1048576}'; fi
}

declare -A ROW
for v in "${variants[@]}"; do
  ROW[$v]="$(size_mb "$v") $(python3 $here/startup.py "${PORT[$v]}" "$RUNS" "$(exe "$v")")"
  echo "$v: ${ROW[$v]}"
done

# Throughput: each server alone on core 0, wrk on core 1, rounds alternated, medians.
declare -A RPS
for v in "${variants[@]}"; do for e in plaintext json; do RPS[$v/$e]=""; done; done
for r in $(seq 1 "$ROUNDS"); do
  for v in "${variants[@]}"; do
    PORT=${PORT[$v]} HOST=127.0.0.1 taskset -c 0 "$(exe "$v")" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:${PORT[$v]}/plaintext" >/dev/null && break; sleep 0.1; done
    for e in plaintext json; do
      taskset -c 1 wrk -t1 -c256 -d2s -s Benchmarks/Load/pipeline.lua "http://127.0.0.1:${PORT[$v]}/$e" -- 16 >/dev/null  # warm-up
      rps=$(taskset -c 1 wrk -t1 -c256 -d"${DURATION}s" -s Benchmarks/Load/pipeline.lua "http://127.0.0.1:${PORT[$v]}/$e" -- 16 | awk '/Requests\/sec/ {print $2}')
      RPS[$v/$e]="${RPS[$v/$e]} $rps"
    done
    if [ "$r" = 1 ]; then
      line=$(taskset -c 1 dotnet Benchmarks/Load/SseLoad/bin/Release/net10.0/SseLoad.dll scale "http://127.0.0.1:${PORT[$v]}" "$CLIENTS" 10 "$pid" || echo "failed")
      ROW[$v]="${ROW[$v]} $(echo "$line" | tr ' ' '\n' | grep -E '^(p99_ms|kb_per_conn)=' | tr '\n' ' ')"
    fi
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

table=$results/aot.md
{
  echo "| build | binary (MB) | start-up to first 200 (ms, median of $RUNS) | RSS idle (MB) | RSS after 10k requests (MB) | pipelined plaintext (req/s) | pipelined JSON (req/s) | SSE broadcast p99, $CLIENTS clients (ms) | KB per SSE connection |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for v in "${variants[@]}"; do
    read -r size rest <<<"${ROW[$v]}"
    get() { echo "$rest" | tr ' ' '\n' | awk -F= -v k="$1" '$1==k {print $2}'; }
    printf "| %s | %s | %s | %s | %s | %.0f | %.0f | %s | %s |\n" "$v" "$size" "$(get startup_ms)" "$(get idle_rss_mb)" "$(get rss_after_10k_mb)" \
      "$(echo "${RPS[$v/plaintext]}" | median)" "$(echo "${RPS[$v/json]}" | median)" "$(get p99_ms)" "$(get kb_per_conn)"
  done
} >"$table"
cat "$table"
