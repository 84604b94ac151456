#!/usr/bin/env bash
# Starts the scale-out demo: Redis (unless REDIS is set), two Bocata instances, nginx in front on PORT (default 8000).
# Open http://127.0.0.1:8000, then kill -9 one instance (its pid is printed; it is restarted): the page keeps its feed.
set -euo pipefail
cd "$(dirname "$0")"
PORT=${PORT:-8000}
PORT_A=${PORT_A:-8001}
PORT_B=${PORT_B:-8002}
dir=$(mktemp -d)
pids=()
nginx_pid=""
cleanup() {
  [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for f in "$dir"/instance-*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
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
# Each instance runs under a loop that starts it again when it dies: kill -9 one (its pid is printed, and kept in
# $dir/instance-X.pid) to see the pages move to the other instance and come back.
for i in A B; do
  port_var=PORT_$i
  port=${!port_var}
  (
    trap 'kill "$child" 2>/dev/null; exit 0' TERM INT
    while true; do
      PORT=$port HOST=127.0.0.1 INSTANCE="instance-$i" dotnet bin/Release/net10.0/ScaleOut.dll &
      child=$!
      echo "$child" >"$dir/instance-$i.pid"
      echo "instance-$i: pid $child on port $port (kill -9 $child to crash it; it is restarted in 2 s)"
      wait "$child" || true
      echo "instance-$i exited; restarting in 2 s"
      sleep 2
    done
  ) &
  pids+=($!)
done

sed -e "s#__DIR__#$dir#g" -e "s#__PORT_A__#$PORT_A#g" -e "s#__PORT_B__#$PORT_B#g" -e "s#__PORT__#$PORT#g" nginx.conf >"$dir/nginx.conf"
# A normal master process, in the foreground: `nginx -s reload` and `nginx -s quit` work as on a server.
"$nginx_bin" -c "$dir/nginx.conf" -p "$dir" -g "daemon off;" &
nginx_pid=$!
echo "Scale-out demo on http://127.0.0.1:$PORT (nginx, round-robin over two instances, Redis at $REDIS). Ctrl+C stops everything."
echo "Reload nginx: $nginx_bin -c $dir/nginx.conf -p $dir -s reload"
wait "$nginx_pid"
