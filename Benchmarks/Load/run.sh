#!/usr/bin/env bash
# Side-by-side load benchmark: raw Kestrel (the limit), ASP.NET Core minimal APIs (the peer) and Bocata, with
# identical endpoints, servers pinned to core 0 and wrk to core 1, alternating rounds, medians and ratios.
# Usage: bash Benchmarks/Load/run.sh        (DURATION=5 ROUNDS=3 CLIENTS=10000 to change the defaults)
set -euo pipefail
cd "$(dirname "$0")/../.."
here=Benchmarks/Load
out=$here/results
mkdir -p "$out"
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-10000}
CONNECTIONS=${CONNECTIONS:-32}

need() { command -v "$1" >/dev/null 2>&1 || { echo "installing $2"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need gnuplot gnuplot-nox
need taskset util-linux
ulimit -n 65536 || true

for p in RawKestrel MinimalApi BocataServer SseLoad; do
  dotnet build -c Release --nologo -v q "$here/$p/$p.csproj" >/dev/null
done
bin() { echo "$here/$1/bin/Release/net10.0/$1.dll"; }

# bocatalog: Bocata in its default configuration (console access log on, written to /dev/null here).
declare -A PORT=([raw]=5001 [minimal]=5002 [bocata]=5003 [bocatalog]=5004)
declare -A DLL=([raw]=$(bin RawKestrel) [minimal]=$(bin MinimalApi) [bocata]=$(bin BocataServer) [bocatalog]=$(bin BocataServer))
declare -A PID
servers=(raw minimal bocata)
all_servers=(raw minimal bocata bocatalog)
cleanup() { for s in "${all_servers[@]}"; do [ -n "${PID[$s]:-}" ] && kill "${PID[$s]}" 2>/dev/null || true; done; }
trap cleanup EXIT

for s in "${servers[@]}"; do
  PORT=${PORT[$s]} HOST=127.0.0.1 DOTNET_gcServer=0 taskset -c 0 dotnet "${DLL[$s]}" >"$out/$s.log" 2>&1 &
  PID[$s]=$!
done
PORT=${PORT[bocatalog]} HOST=127.0.0.1 ACCESS_LOG=1 DOTNET_gcServer=0 taskset -c 0 dotnet "${DLL[bocatalog]}" >/dev/null 2>&1 &
PID[bocatalog]=$!
for s in "${all_servers[@]}"; do
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:${PORT[$s]}/plaintext" >/dev/null && break; sleep 0.2; done
done

endpoints=(/plaintext /json /items/42)
run_wrk() { # server endpoint mode seconds -> requests/s
  local url="http://127.0.0.1:${PORT[$1]}$2" extra=()
  [ "$3" = pipelined ] && extra=(-s "$here/pipeline.lua")
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${4}s" "${extra[@]}" "$url" ${3/pipelined/-- 16} 2>/dev/null \
    | awk '/Requests\/sec/ {print $2}'
}

ONLY=${ONLY:-all}   # all | http | scale
if [ "$ONLY" = scale ]; then ROUNDS=0; fi
echo "warming up (tiered JIT needs several rounds)..."
[ "$ONLY" = scale ] || for _ in 1 2; do for s in "${servers[@]}"; do for e in "${endpoints[@]}"; do for m in plain pipelined; do run_wrk "$s" "$e" "$m" 2 >/dev/null; done; done; done; done
# The access-log server gets the same 20 s of load: pinned to one core, tiered compilation takes that long (with 4 s,
# its first round ran at a third of its speed).
[ "$ONLY" = scale ] || for _ in 1 2 3 4; do run_wrk bocatalog /plaintext pipelined 5 >/dev/null; done

raw_file=$out/raw.tsv
: >"$raw_file"
for r in $(seq 1 "$ROUNDS"); do
  # Rotate the order every round so no server always runs first.
  order=("${servers[@]:$((r % 3))}" "${servers[@]:0:$((r % 3))}")
  for m in plain pipelined; do for e in "${endpoints[@]}"; do for s in "${order[@]}"; do
    rps=$(run_wrk "$s" "$e" "$m" "$DURATION")
    printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$m" "$e" "$s" "$rps" | tee -a "$raw_file"
  done; done; done
  # The default configuration: pipelined plaintext with the access log on, against the same server with it off.
  for s in bocata bocatalog; do
    rps=$(run_wrk "$s" /plaintext pipelined "$DURATION")
    printf '%s\t%s\t%s\t%s\t%s\n' "$r" default /plaintext "$s" "$rps" | tee -a "$raw_file"
  done
  for s in "${order[@]}"; do
    eps=$(taskset -c 1 dotnet "$(bin SseLoad)" rate "http://127.0.0.1:${PORT[$s]}/sse" "$DURATION")
    printf '%s\t%s\t%s\t%s\t%s\n' "$r" sse /sse "$s" "$eps" | tee -a "$raw_file"
  done
done

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
med() { awk -F'\t' -v m="$1" -v e="$2" -v s="$3" '$2==m && $3==e && $4==s {print $5}' "$raw_file" | median; }

table=$out/table.md
if [ "$ROUNDS" -gt 0 ]; then
{
  echo "| mode | endpoint | raw Kestrel | minimal APIs | Bocata | Bocata / minimal | Bocata / raw |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  for m in plain pipelined; do for e in "${endpoints[@]}"; do
    a=$(med "$m" "$e" raw); b=$(med "$m" "$e" minimal); c=$(med "$m" "$e" bocata)
    awk -v m="$m" -v e="$e" -v a="$a" -v b="$b" -v c="$c" 'BEGIN {printf "| %s | `%s` (req/s) | %.0f | %.0f | %.0f | %.2f | %.2f |\n", m, e, a, b, c, c/b, c/a}'
  done; done
  a=$(med sse /sse raw); b=$(med sse /sse minimal); c=$(med sse /sse bocata)
  awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN {printf "| stream | `/sse` (events/s, one stream) | %.0f | %.0f | %.0f | %.2f | %.2f |\n", a, b, c, c/b, c/a}'
} >"$table"
off=$(med default /plaintext bocata); on=$(med default /plaintext bocatalog); mini=$(med pipelined /plaintext minimal)
awk -v off="$off" -v on="$on" -v m="$mini" 'BEGIN {printf "\nDefault configuration (access log on), pipelined `/plaintext`: %.0f req/s with the log, %.0f without: **%.2f×** of the log-off figure, %.2f× minimal APIs.\n", on, off, on/off, on/m}' >>"$table"
fi

echo
echo "SSE scale run: $CLIENTS clients on a hub broadcast"
scale=$out/scale.md
{
  echo "| framework | clients | server memory per connection | publish→receive p50 | p99 | delivered | server CPU per publish | bytes allocated per delivered event | GCs gen0/gen1/gen2 (pause) |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$scale"
[ "$ONLY" = http ] || for s in minimal bocata; do
  line=$(taskset -c 1 dotnet "$(bin SseLoad)" scale "http://127.0.0.1:${PORT[$s]}" "$CLIENTS" 10 "${PID[$s]}" || echo "failed")
  echo "$s: $line"
  echo "$line" | awk -v s="$s" '{for (i=1;i<=NF;i++) {split($i,kv,"="); v[kv[1]]=kv[2]} printf "| %s | %s | %s KB | %s ms | %s ms | %s | %s ms | %s B | %s/%s/%s (%s ms) |\n", s, v["clients"], v["kb_per_conn"], v["p50_ms"], v["p99_ms"], v["delivered"], v["cpu_ms_per_publish"], v["bytes_per_event"], v["gen0"], v["gen1"], v["gen2"], v["gc_pause_ms"]}' >>"$scale"
done

# Chart: Bocata and minimal APIs relative to raw Kestrel (only when the HTTP rounds ran).
[ "$ROUNDS" -gt 0 ] && {
awk -F'|' 'NR>2 && /^\|/ {gsub(/ /,"",$2); gsub(/`/,"",$3); split($3,x,"("); printf "\"%s %s\" %s %s\n", $2, x[1], $5/$4, $6/$4}' "$table" >"$out/chart.dat"
gnuplot <<GP
set terminal pngcairo size 1000,420 font "sans,10"
set output "docs/performance.png"
set title "Throughput relative to raw Kestrel (1.0 = the limit), median of $ROUNDS rounds"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set yrange [0:1.8]
set key top left
set grid ytics
set xtics rotate by -20
plot "$out/chart.dat" using 2:xtic(1) title "ASP.NET Core minimal APIs", "" using 3 title "Bocata"
GP
}

{
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GB, $(uname -sr), .NET $(dotnet --version)."
  echo "Servers pinned to core 0, wrk (1 thread, $CONNECTIONS connections) to core 1; ${DURATION}s per run, median of $ROUNDS alternating rounds; pipelined = 16 requests per connection in flight."
  echo
  cat "$table"
  echo
  cat "$scale"
} | tee "$out/summary.md"

# Put the summary into docs/performance.md between its results markers (only for a full run).
if [ "$ONLY" = all ]; then awk -v f="$out/summary.md" '
  /<!-- results:start -->/ {print; while ((getline line < f) > 0) print line; skip=1; next}
  /<!-- results:end -->/ {skip=0}
  !skip {print}' docs/performance.md >"$out/performance.md.tmp" && mv "$out/performance.md.tmp" docs/performance.md; fi
