// Crash safety, on the real binaries: bots score against the release server (writing scores
// all the time), the server is killed with SIGKILL mid-write, and restarted on the same file.
// Every score the server had acknowledged (committed: /api/leaderboard shows only committed
// totals) is still there, the file passes its integrity check (the server refuses to start
// otherwise, and logs the result), and start-up takes under 2 s.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { botsBin, outDir, sleep, startServer as start } from './harness.mjs';

const children = [];

after(() => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); });

// The 30 bots are 30 new pilots from one address: more than it may create in an hour by default.
const startServer = (db) => start(['--asteroids', '800', '--arena-size', '3000', '--db', db,
  '--max-new-identities-per-address-per-hour', '100'], children);

async function leaderboard(addr) {
  const res = await fetch(`http://${addr}/api/leaderboard`);
  assert.equal(res.status, 200);
  return res.json();
}

test('SIGKILL during score writes loses no acknowledged score; restart is clean and fast', { timeout: 120_000 }, async () => {
  mkdirSync(outDir, { recursive: true });
  const db = `${outDir}/crash-${process.pid}.db`;
  for (const s of ['', '-wal', '-shm']) rmSync(db + s, { force: true });
  const first = await startServer(db);
  const bots = spawn(botsBin, ['--url', `ws://${first.addr}/ws`, '--bots', '30', '--ramp-secs', '1', '--duration-secs', '60',
    '--behavior', 'fight', '--max-failure-pct', '100'], { stdio: 'ignore' });
  children.push(bots);
  // Wait until scores are being committed, then take the acknowledged figures.
  let acked;
  const deadline = Date.now() + 45_000;
  while (Date.now() < deadline) {
    const board = await leaderboard(first.addr);
    if (board.all_time.length >= 3 && board.all_time[0].points >= 5) { acked = board.all_time; break; }
    await sleep(250);
  }
  assert.ok(acked, 'bots scored and the scores were committed');
  await sleep(300); // keep writing
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.on('exit', r));
  bots.kill('SIGKILL');

  const second = await startServer(db);
  assert.match(second.log(), /store open .*integrity=ok/, 'the file passed its integrity check');
  assert.ok(second.startupMs < 2000, `restart took ${second.startupMs} ms`);
  const after = await leaderboard(second.addr);
  for (const e of acked) {
    const res = await fetch(`http://${second.addr}/api/players/${encodeURIComponent(e.name)}`);
    assert.equal(res.status, 200, `${e.name} (acknowledged ${e.points} points) still exists`);
    const now = await res.json();
    assert.ok(now.points >= e.points, `${e.name}: ${now.points} < acknowledged ${e.points}`);
  }
  console.log(`crash: acknowledged ${JSON.stringify(acked.slice(0, 3))}, after restart ${JSON.stringify(after.all_time.slice(0, 3))}, restart ${second.startupMs} ms`);
  second.child.kill('SIGTERM');
});
