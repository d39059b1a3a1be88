#!/usr/bin/env bash
# 200 bots through the link conditioner over four links (50 ± 10 ms and 150 ± 30 ms each way,
# with and without a 200 ms stall of the server-to-client direction every 3 s): what the own
# ship's prediction does on real networks (BENCHMARKS.md). Each link gets a fresh server on
# 127.0.0.1:18090 (release build, 4,000 asteroids, no AI pilots); the swarm runs at nice 19; the
# server's late and early input counters are read from /admin/stats at the end.
# Usage: scripts/bench-link-swarm.sh  (after cargo build --release -p asteroids-server -p asteroids-bots)
set -euo pipefail
cd "$(dirname "$0")/.."
db=$(mktemp -d)
trap 'rm -rf "$db"' EXIT
for link in "40 20 0" "40 20 200" "120 60 0" "120 60 200"; do
  read -r delay jitter stall <<< "$link"
  ./target/release/asteroids-server --bind 127.0.0.1:18090 --asteroids 4000 --ai-pilots 0 \
    --admin-token bench-admin-token-0 --db "$db/bench-$delay-$stall.db" > "$db/server.log" 2>&1 &
  server=$!
  sleep 2
  echo "=== delay $delay jitter $jitter stall $stall (every 3000 ms, downlink)"
  nice -n 19 ./target/release/asteroids-bots --url ws://127.0.0.1:18090/ws --bots 200 --ramp-secs 10 \
    --duration-secs 30 --behavior mix --link-delay-ms "$delay" --link-jitter-ms "$jitter" \
    --link-stall-ms "$stall" --link-stall-every-ms 3000 2>&1 | sed -n '/bots requested/,$p'
  curl -s http://127.0.0.1:18090/admin/stats -H "Authorization: Bearer bench-admin-token-0" | grep -oE '"(late|early)_inputs":[0-9]+'
  kill -INT "$server"
  wait "$server" || true
done
