#!/usr/bin/env bash
# The standard swarm scenario (BENCHMARKS.md): the release server with 10,000 asteroids and
# the release swarm beside it on this machine, 1,000 bots in `mix`, 20 s ramp, 60 s run.
# Samples /admin/stats every 10 s during the run; writes everything to bench-out/.
# Usage: scripts/bench-swarm.sh [BOTS] [ASTEROIDS]
set -euo pipefail
cd "$(dirname "$0")/.."
bots=${1:-1000}
asteroids=${2:-10000}
out=bench-out
mkdir -p "$out"
cargo build --release -p asteroids-server -p asteroids-bots
token=bench-$$
port=18080
rm -f "$out"/bench.db*
ASTEROIDS_ADMIN_TOKEN="$token" ./target/release/asteroids-server --bind 127.0.0.1:$port --asteroids "$asteroids" --db "$out/bench.db" > "$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.2; done
(
  for i in $(seq 1 9); do
    sleep 10
    curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/admin/stats" > "$out/stats-$i.json" || true
  done
) &
sampler=$!
# The server's CPU time (user + system, clock ticks of USER_HZ = 100) from /proc/<pid>/stat.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
server_cpu_before=$(cpu_ticks $server)
set +e
${BOTS_NICE:+nice -n $BOTS_NICE} ./target/release/asteroids-bots --url "ws://127.0.0.1:$port/ws" --bots "$bots" --ramp-secs 20 --duration-secs 60 \
  --behavior mix --json "$out/report.json" 2> "$out/progress.log" | tee "$out/report.txt"
status=${PIPESTATUS[0]}
set -e
server_cpu=$(( $(cpu_ticks $server) - server_cpu_before ))
bot_secs=$(python3 -c "import json; print(json.load(open('$out/report.json'))['bot_secs'])")
python3 -c "print(f'server CPU: {$server_cpu / 100:.1f} s for {$bot_secs:.0f} player-seconds: {10 * $server_cpu / $bot_secs:.3f} ms per player-second')" | tee -a "$out/report.txt"
kill $sampler 2>/dev/null || true
curl -sf "http://127.0.0.1:$port/metrics" -H "Authorization: Bearer $token" > "$out/metrics.txt" || true
echo "swarm exit status: $status"
exit "$status"
