#!/usr/bin/env bash
# Scale-out benchmark: Bocata instances sharing one hub through a throwaway redis-server.
# Servers and Redis on core 0, the load client on core 1. Prints one markdown table into results/scaleout.md.
# Usage: bash Benchmarks/Load/scaleout.sh     (CLIENTS=10000 DURATION=10 to change the defaults)
set -euo pipefail
cd "$(dirname "$0")/../.."
here=Benchmarks/Load
out=$here/results
mkdir -p "$out"
CLIENTS=${CLIENTS:-10000}
DURATION=${DURATION:-10}
command -v redis-server >/dev/null 2>&1 || { echo "installing redis-server"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
ulimit -n 65536 2>/dev/null || true
for p in BocataServer SseLoad; do dotnet build -c Release --nologo -v q "$here/$p/$p.csproj" >/dev/null; done
bin() { echo "$here/$1/bin/Release/net10.0/$1.dll"; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

taskset -c 0 redis-server --port 6399 --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
start() { # name port env... -> pid
  local port=$1; shift
  env PORT="$port" HOST=127.0.0.1 DOTNET_gcServer=0 "$@" taskset -c 0 dotnet "$(bin BocataServer)" >/dev/null 2>&1 &
  local pid=$!
  pids+=($pid)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/plaintext" >/dev/null && break; sleep 0.2; done
  echo "$pid"
}
stop() { kill "$@" 2>/dev/null || true; sleep 1; }
load() { taskset -c 1 dotnet "$(bin SseLoad)" "$@"; }
# The throughput row is a steady state: on a core saturated by two instances and Redis, tiered compilation needs about a
# minute to replace instrumented code (measured: 16-19k events/s after a 5 s warm-up, 22k after 30 s, 40-43k after 60-90 s,
# 33k with tiered compilation off from the start). THROUGHPUT_WARMUP seconds of unmeasured bursts come first.
THROUGHPUT_WARMUP=${THROUGHPUT_WARMUP:-60}
kv() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1==k {print $2}'; }

throughput() { # topic subscribers -> the load client's line (two fresh instances, stopped after)
  local a b line
  a=$(start 5021 REDIS=127.0.0.1:6399 TOPIC="$1" BUFFER=100000); b=$(start 5022 REDIS=127.0.0.1:6399 TOPIC="$1" BUFFER=100000)
  line=$(WARMUP=$THROUGHPUT_WARMUP load throughput http://127.0.0.1:5021 http://127.0.0.1:5022 "$2" "$DURATION")
  stop "$a" "$b"
  echo "$line"
}
through=$(throughput cross 200); echo "throughput: $through"
# The backplane's own rate: one subscriber per instance (with 200, the load client's core reading 200 streams is the limit).
through1=$(throughput cross1 2); echo "throughput, 2 subscribers: $through1"
a=$(start 5021 REDIS=127.0.0.1:6399 TOPIC=latency BUFFER=1024); b=$(start 5022 REDIS=127.0.0.1:6399 TOPIC=latency BUFFER=1024)
cross=$(WARMUP=${CROSS_WARMUP:-15} load cross http://127.0.0.1:5021 http://127.0.0.1:5022 100 1000 "$DURATION"); echo "cross: $cross"
stop "$a" "$b"

m=$(start 5023); mem=$(load scale http://127.0.0.1:5023 "$CLIENTS" 10 "$m"); echo "one instance, in memory: $mem"; stop "$m"
r=$(start 5024 REDIS=127.0.0.1:6399 TOPIC=scale1); red=$(load scale http://127.0.0.1:5024 "$CLIENTS" 10 "$r"); echo "one instance, Redis backplane: $red"; stop "$r"
a=$(start 5025 REDIS=127.0.0.1:6399 TOPIC=scale2); b=$(start 5026 REDIS=127.0.0.1:6399 TOPIC=scale2)
two=$(load scale http://127.0.0.1:5025,http://127.0.0.1:5026 "$CLIENTS" 10 "$a,$b"); echo "two instances, Redis backplane: $two"; stop "$a" "$b"

# Topics: CLIENTS streams over two instances, each of its own user topic and one of 100 rooms (every room on both
# instances), TOPIC_RATE publishes/s through instance A, alternately to a user and a room. 400/s by default: a room event
# is 100 deliveries, and at 1,000/s (50,000 deliveries/s) two instances and Redis saturate their one core (measured
# 2026-12-03: 983/s done, p50 56 ms), which measures the queue, not the path.
TOPIC_RATE=${TOPIC_RATE:-400}
t=$(start 5027); topmem=$(load topics http://127.0.0.1:5027 "$CLIENTS" "$TOPIC_RATE" "$DURATION" "$t"); echo "topics, one instance, in memory: $topmem"; stop "$t"
redis-cli -p 6399 config resetstat >/dev/null
a=$(start 5028 REDIS=127.0.0.1:6399 TOPIC=topics2); b=$(start 5029 REDIS=127.0.0.1:6399 TOPIC=topics2)
tops=$(load topics http://127.0.0.1:5028,http://127.0.0.1:5029 "$CLIENTS" "$TOPIC_RATE" "$DURATION" "$a,$b"); echo "topics, two instances on Redis: $tops"
stats=$(redis-cli -p 6399 info commandstats)
scripts=$(echo "$stats" | awk -F'[=,:]' '/^cmdstat_evalsha:|^cmdstat_eval:/ {s+=$3} END {print s+0}')
commands=$(echo "$stats" | awk -F'[=,:]' '/^cmdstat_/ {s+=$3} END {print s+0}')
stop "$a" "$b"

{
  echo "Machine: $(nproc) cores, .NET $(dotnet --version), redis-server $(redis-server --version | awk '{print $3}' | cut -d= -f2). Servers and Redis on core 0, load client on core 1."
  echo
  echo "| measurement | result |"
  echo "|---|---|"
  echo "| publish→receive across instances, 100 subscribers, $(kv "$cross" rate) events/s | p50 $(kv "$cross" cross_p50_ms) ms, p99 $(kv "$cross" cross_p99_ms) ms (same instance: p50 $(kv "$cross" local_p50_ms) ms, p99 $(kv "$cross" local_p99_ms) ms); delivered $(kv "$cross" delivered); TCP retransmits on loopback during the run: $(kv "$cross" tcp_retransmits) |"
  echo "| sustained through Redis, 2 instances × 1 subscriber (after ${THROUGHPUT_WARMUP} s of warm-up) | $(kv "$through1" publish_events_per_s) events/s published, $(kv "$through1" delivered_events_per_s) events/s delivered to all; in order and complete: $(kv "$through1" complete_in_order), lost $(kv "$through1" lost) |"
  echo "| sustained through Redis, 2 instances × 100 subscribers (after ${THROUGHPUT_WARMUP} s of warm-up) | $(kv "$through" publish_events_per_s) events/s published, $(kv "$through" delivered_events_per_s) events/s delivered to all; in order and complete: $(kv "$through" complete_in_order), lost $(kv "$through" lost) |"
  echo "| $CLIENTS subscribers, one instance, in-memory hub | p50 $(kv "$mem" p50_ms) ms, p99 $(kv "$mem" p99_ms) ms, $(kv "$mem" kb_per_conn) KB per connection |"
  echo "| $CLIENTS subscribers, one instance, Redis backplane | p50 $(kv "$red" p50_ms) ms, p99 $(kv "$red" p99_ms) ms, $(kv "$red" kb_per_conn) KB per connection |"
  echo "| $CLIENTS subscribers split over two instances, Redis backplane | p50 $(kv "$two" p50_ms) ms, p99 $(kv "$two" p99_ms) ms, $(kv "$two" kb_per_conn) KB per connection; delivered $(kv "$two" delivered) |"
  tp=$(kv "$tops" published)
  echo "| topics: $CLIENTS streams over two instances (own user topic + one of 100 rooms), $(kv "$tops" rate) publishes/s | p50 $(kv "$tops" p50_ms) ms, p99 $(kv "$tops" p99_ms) ms publish→receive (in memory, one instance: p50 $(kv "$topmem" p50_ms) ms, p99 $(kv "$topmem" p99_ms) ms); delivered $(kv "$tops" delivered) |"
  echo "| topics: Redis work per publish | $(awk -v s="$scripts" -v p="$tp" 'BEGIN {printf "%.2f", s / p}') scripts (round trips), $(awk -v c="$commands" -v p="$tp" 'BEGIN {printf "%.1f", c / p}') Redis commands in all (inside scripts included) |"
  echo "| topics: events Redis sent the instances | $(kv "$tops" backplane_events) for $(kv "$tops" backplane_expected) events of topics they serve; events of topics an instance does not serve: $(kv "$tops" unserved_events) |"
  echo "| topics: memory per connection | $(kv "$tops" kb_per_conn) KB over two instances on Redis, $(kv "$topmem" kb_per_conn) KB on one instance in memory |"
} | tee "$out/scaleout.md"

# Put the table into docs/performance.md between its scale-out markers.
awk -v f="$out/scaleout.md" '
  /<!-- scaleout:start -->/ {print; while ((getline line < f) > 0) print line; skip=1; next}
  /<!-- scaleout:end -->/ {skip=0}
  !skip {print}' docs/performance.md >"$out/performance.md.tmp" && mv "$out/performance.md.tmp" docs/performance.md
