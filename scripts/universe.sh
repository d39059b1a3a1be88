#!/usr/bin/env bash
# A universe on this machine: Redis (the directory), PostgreSQL (identities and scores) and N
# sector servers, each its own process, in a grid (N ≤ 3: a row; more: as square as it goes).
#
#   scripts/universe.sh 3          start (builds the release server and the client first)
#   scripts/universe.sh stop       stop everything it started
#
# Installs Debian's redis-server and postgresql when they are missing. Everything lives in
# .universe/ (data, logs, the universe's secret, the admin token); the sectors listen on
# 127.0.0.1:8081, 8082, … Open any of them in a browser: the page lists the sectors and joins
# the least crowded. Environment: UNIVERSE_ASTEROIDS (per sector, default 2000),
# UNIVERSE_BASE_PORT (default 8081), UNIVERSE_REDIS_PORT (6390), UNIVERSE_PG_PORT (5440);
# extra arguments after N go to every sector.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$PWD/.universe"
pids="$dir/pids"

stop() {
  if [ -f "$pids" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$pids"
    rm -f "$pids"
  fi
  if [ -d "$dir/pg" ]; then
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$dir/pg" -m fast stop >/dev/null 2>&1 || true
  fi
  echo "universe: stopped"
}

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ "${1:-}" = "stop" ]; then
  stop
  exit 0
fi
n="${1:?usage: scripts/universe.sh N [server flags…] | stop}"
shift
[ "$n" -ge 1 ] 2>/dev/null || { echo "universe: N must be a number of sectors (1 or more)" >&2; exit 2; }

need=()
command -v redis-server >/dev/null || need+=(redis-server)
[ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "universe: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

[ -f "$pids" ] && stop
mkdir -p "$dir"
redis_port="${UNIVERSE_REDIS_PORT:-6390}"
pg_port="${UNIVERSE_PG_PORT:-5440}"
base_port="${UNIVERSE_BASE_PORT:-8081}"
asteroids="${UNIVERSE_ASTEROIDS:-2000}"

# The grid: a row for up to three sectors, else as square as it goes.
if [ "$n" -le 3 ]; then
  w=$n; h=1
else
  w=$(python3 -c "import math; print(math.ceil(math.sqrt($n)))")
  h=$(( (n + w - 1) / w ))
fi

echo "universe: building the server and the client"
scripts/build-client.sh >/dev/null || echo "universe: the client could not be built (the pages will say so)" >&2
cargo build --release -q -p asteroids-server --bin asteroids-server

# Redis: no persistence (the directory is rebuilt by the heartbeats within a second).
mkdir -p "$dir/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir/redis" \
  >"$dir/redis.log" 2>&1 &
echo $! >> "$pids"

# PostgreSQL refuses to run as root: its data directory belongs to the postgres user.
if [ ! -f "$dir/pg/PG_VERSION" ]; then
  mkdir -p "$dir/pg"
  chown postgres "$dir/pg"
  runuser -u postgres -- "$pg_bin/initdb" -D "$dir/pg" -A trust -U postgres >/dev/null
fi
chown postgres "$dir/pg"
mkdir -p "$dir/pg-socket"; chown postgres "$dir/pg-socket"
runuser -u postgres -- "$pg_bin/pg_ctl" -D "$dir/pg" -l "$dir/pg/server.log" -w \
  -o "-p $pg_port -k $dir/pg-socket -c listen_addresses=127.0.0.1" start >/dev/null
"$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'asteroids'" \
  | grep -q 1 || "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres asteroids

[ -f "$dir/secret" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/secret"
[ -f "$dir/admin-token" ] || head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/admin-token"
chmod 600 "$dir/secret" "$dir/admin-token"

i=0
for ((y = 0; y < h; y++)); do
  for ((x = 0; x < w; x++)); do
    [ "$i" -lt "$n" ] || break
    port=$((base_port + i))
    ASTEROIDS_UNIVERSE_SECRET="$(cat "$dir/secret")" ASTEROIDS_ADMIN_TOKEN="$(cat "$dir/admin-token")" \
      target/release/asteroids-server --bind "127.0.0.1:$port" --asteroids "$asteroids" \
        --universe "redis://127.0.0.1:$redis_port" --sector "$x,$y" --universe-size "$w,$h" \
        --db "postgres://postgres@127.0.0.1:$pg_port/asteroids" "$@" >"$dir/sector-$x-$y.log" 2>&1 &
    echo $! >> "$pids"
    echo "universe: sector $x,$y on http://127.0.0.1:$port/ (log .universe/sector-$x-$y.log)"
    i=$((i + 1))
  done
done

# Ready when every sector is listed in the directory.
for _ in $(seq 1 100); do
  listed=$(curl -s "http://127.0.0.1:$base_port/api/universe" | python3 -c \
    "import json,sys; print(len(json.load(sys.stdin)['sectors']))" 2>/dev/null || echo 0)
  [ "$listed" = "$n" ] && break
  sleep 0.2
done
echo "universe: $listed of $n sectors listed in a ${w}×${h} grid; Redis on $redis_port, PostgreSQL on $pg_port"
echo "universe: admin token in .universe/admin-token; stop with scripts/universe.sh stop"
