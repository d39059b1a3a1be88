// Regression (deaths were never saved), on the real binaries and a real database file: fight
// bots play against the release server until someone has been shot; the server is stopped with
// SIGTERM while they are still flying; then, for every pilot, the hits, kills, deaths, longest
// life and points the server committed (read back through /api/players/{name} from a server
// restarted on the same file) equal what that pilot's own last Score message said.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, readFileSync } from 'node:fs';
import { botsBin, exited, outDir, sleep, startServer as start } from './harness.mjs';

const children = [];

after(() => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); });

// A crowded little field: ships die on rocks and on each other's bullets within seconds.
const startServer = (db) =>
  start(['--asteroids', '150', '--arena-size', '1600', '--db', db], children, { ASTEROIDS_ADMIN_TOKEN: 'scores-test-admin-token' });

async function player(addr, name) {
  const res = await fetch(`http://${addr}/api/players/${encodeURIComponent(name)}`);
  assert.equal(res.status, 200, `${name} is known`);
  return res.json();
}

test('every figure a pilot was sent is the figure the server saved, after SIGTERM and a restart', { timeout: 120_000 }, async () => {
  mkdirSync(outDir, { recursive: true });
  const db = `${outDir}/scores-${process.pid}.db`;
  const scores = `${outDir}/scores-${process.pid}.json`;
  for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
  rmSync(scores, { force: true });

  const first = await startServer(db);
  const bots = spawn(botsBin, ['--url', `ws://${first.addr}/ws`, '--bots', '12', '--ramp-secs', '1', '--duration-secs', '90',
    '--behavior', 'fight', '--max-failure-pct', '100', '--scores', scores], { stdio: 'ignore' });
  children.push(bots);
  // Fight until someone has been shot (and for at least 8 s), then stop the server mid-fight.
  const started = Date.now();
  for (;;) {
    assert.ok(Date.now() - started < 60_000, 'no kill within 60 s');
    await sleep(500);
    const board = await (await fetch(`http://${first.addr}/api/leaderboard`)).json();
    const kills = board.online.reduce((sum, e) => sum + e.kills, 0);
    if (kills > 0 && Date.now() - started > 8_000) break;
  }
  first.child.kill('SIGTERM');
  assert.equal(await exited(first.child), 0, 'the server drained and exited cleanly');
  await exited(bots); // every bot was told goodbye, so the swarm ends
  const told = JSON.parse(readFileSync(scores, 'utf8'));
  assert.equal(told.length, 12, 'every bot reported its score');
  const total = (k) => told.reduce((sum, p) => sum + p[k], 0);
  assert.ok(total('deaths') > 0 && total('kills') > 0 && total('hits') > 0, JSON.stringify(told));
  assert.ok(total('best_life_ticks') > 0, JSON.stringify(told));

  const second = await startServer(db);
  for (const p of told) {
    const saved = await player(second.addr, p.name);
    for (const k of ['hits', 'kills', 'deaths', 'best_life_ticks', 'points']) {
      assert.equal(saved[k], p[k], `${p.name}: ${k} saved ${saved[k]}, sent ${p[k]}`);
    }
  }
  console.log(`scores: ${told.length} pilots, ${total('kills')} kills, ${total('deaths')} deaths, ${total('hits')} hits, all saved as sent`);
  second.child.kill('SIGTERM');
  await exited(second.child);
});
