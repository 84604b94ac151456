#!/usr/bin/env bash
# Starts the scale-out demo: Redis (unless REDIS is set), two Bocata instances, nginx in front on PORT (default 8000).
# Open http://127.0.0.1:8000, then kill one instance (its pid is printed): the page keeps its feed.
set -euo pipefail
cd "$(dirname "$0")"
PORT=${PORT:-8000}
PORT_A=${PORT_A:-8001}
PORT_B=${PORT_B:-8002}
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT INT TERM

nginx_bin=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
[ -n "$nginx_bin" ] || { echo "nginx is needed: sudo apt-get install -y nginx-light"; exit 1; }
if [ -z "${REDIS:-}" ] && ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server is needed (sudo apt-get install -y redis-server), or set REDIS=host:port"; exit 1
fi

if [ -z "${REDIS:-}" ]; then
  redis_port=${REDIS_PORT:-6379}
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$dir/redis.log" 2>&1 &
  pids+=($!)
  REDIS="127.0.0.1:$redis_port"
fi
export REDIS

dotnet build -c Release --nologo -v q ScaleOut.csproj >/dev/null
for i in A B; do
  port_var=PORT_$i
  PORT=${!port_var} HOST=127.0.0.1 INSTANCE="instance-$i" dotnet bin/Release/net10.0/ScaleOut.dll &
  pids+=($!)
  echo "instance-$i: pid $! on port ${!port_var}"
done

sed -e "s#__DIR__#$dir#g" -e "s#__PORT_A__#$PORT_A#g" -e "s#__PORT_B__#$PORT_B#g" -e "s#__PORT__#$PORT#g" nginx.conf >"$dir/nginx.conf"
"$nginx_bin" -c "$dir/nginx.conf" -p "$dir" -g "daemon off; master_process off;" &
pids+=($!)
echo "Scale-out demo on http://127.0.0.1:$PORT (nginx, round-robin over two instances, Redis at $REDIS). Ctrl+C stops everything."
wait
