// End to end, as a player: the real server (release build) on 127.0.0.1, the real page in
// Debian's headless Chromium driven by playwright-core. Enter a name, see the ship, thrust and
// turn and see it move, fire and see bullets, no console errors, and over 10 s no visible
// correction larger than 0.5 units on coasting asteroids. Saves a screenshot to test-output/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { stats, waitFor } from './harness.mjs';

const root = new URL('../../', import.meta.url).pathname;
const serverBin = process.env.ASTEROIDS_SERVER_BIN || `${root}target/release/asteroids-server`;
const outDir = `${root}test-output`;

let server;
let baseUrl;
let browser;

function startServer() {
  return new Promise((resolve, reject) => {
    const db = `${outDir}/e2e-${process.pid}.db`;
    // No AI pilots: their bullets would pass the "bullets appear" check for the page, and
    // one could shoot the reloading pilot's ship (the reload test expects the same ship back).
    server = spawn(serverBin, ['--bind', '127.0.0.1:0', '--asteroids', '300', '--arena-size', '6000', '--ai-pilots', '0',
      '--www', `${root}www`, '--db', db], {
      env: { ...process.env, RUST_LOG: 'info', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => reject(new Error('server did not report its address within 20 s')), 20_000);
    let seen = '';
    const onData = (chunk) => {
      seen += chunk.toString();
      const m = seen.match(/listening addr=(\d+\.\d+\.\d+\.\d+:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(`http://${m[1]}`);
      }
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
    server.on('exit', (code) => reject(new Error(`server exited early with ${code}: ${seen}`)));
  });
}

before(async () => {
  mkdirSync(outDir, { recursive: true });
  baseUrl = await startServer();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server && server.exitCode === null) server.kill('SIGKILL');
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('a player joins, flies, fires, and coasting asteroids never need a visible correction', { timeout: 120_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  page.on('pageerror', (err) => errors.push(String(err)));

  await page.goto(baseUrl);
  await page.fill('#name', 'E2E Pilot');
  await page.click('#play');
  const first = await waitFor(page, 'the ship in view', (s) => s.phase === 'playing' && s.ship !== null && s.entities > 1);
  const token = await page.evaluate(() => localStorage.getItem('asteroids.token'));
  assert.match(token || '', /^[0-9a-f]{32}$/, 'the page kept the identity token the server issued');

  // The canvas draws: sample its pixels for anything but the background colour.
  const drawn = await page.evaluate(() => {
    const c = document.getElementById('game');
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let lit = 0;
    for (let i = 0; i < data.length; i += 4 * 7) if (data[i] + data[i + 1] + data[i + 2] > 120) lit++;
    return lit;
  });
  assert.ok(drawn > 200, `the canvas shows the field (${drawn} lit samples)`);

  // Thrust and turn: the ship moves.
  await page.keyboard.down('ArrowUp');
  await page.keyboard.down('ArrowLeft');
  await sleep(1200);
  await page.keyboard.up('ArrowLeft');
  await sleep(300);
  await page.keyboard.up('ArrowUp');
  const moved = await waitFor(page, 'the ship to have moved', (s) => s.ship !== null || s.ship_id !== first.ship_id);
  if (moved.ship_id === first.ship_id) {
    const d = Math.hypot(moved.ship.x - first.ship.x, moved.ship.y - first.ship.y);
    assert.ok(d > 30, `the ship moved ${d.toFixed(1)} units`);
  }

  // Fire: bullets appear.
  await page.keyboard.down('Space');
  const firing = await waitFor(page, 'bullets', (s) => s.bullets > 0, 5_000);
  await page.keyboard.up('Space');
  assert.ok(firing.bullets > 0);

  // Ten seconds of play: snapshots keep coming, and no asteroid needs a visible correction.
  const t0 = Date.now();
  let worst = 0;
  let snapshotsLow = Infinity;
  while (Date.now() - t0 < 10_000) {
    const s = await stats(page);
    worst = Math.max(worst, s.max_asteroid_correction_10s);
    if (Date.now() - t0 > 1_500) snapshotsLow = Math.min(snapshotsLow, s.snapshots_per_sec);
    await sleep(250);
  }
  const end = await stats(page);
  await page.screenshot({ path: `${outDir}/e2e.png` });
  console.log(`e2e: ${JSON.stringify(end)}; worst asteroid correction ${worst}; screenshot ${outDir}/e2e.png`);
  assert.ok(worst <= 0.5, `largest visible asteroid correction over 10 s: ${worst} units`);
  assert.ok(snapshotsLow >= 10, `snapshots kept arriving (lowest rate ${snapshotsLow}/s)`);
  assert.ok(end.fps > 10, `the page kept drawing (${end.fps} fps)`);
  assert.deepEqual(errors, [], 'no console errors');
  await page.close();
});

test('after a reload the controls answer at once (the new page numbers its inputs from 1)', { timeout: 60_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  await page.goto(baseUrl);
  await page.fill('#name', 'Reloader');
  await page.click('#play');
  const before = await waitFor(page, 'the ship in view', (s) => s.phase === 'playing' && s.ship !== null);
  // Many control changes: the old page's input counter runs far ahead of a fresh page's.
  for (let i = 0; i < 80; i++) {
    await page.keyboard.down('ArrowLeft');
    await page.keyboard.up('ArrowLeft');
  }
  await sleep(300);
  await page.reload();
  await page.click('#play'); // the name (and its token) are remembered
  const back = await waitFor(page, 'the same ship again', (s) => s.phase === 'playing' && s.ship !== null);
  assert.equal(back.ship_id, before.ship_id, 'resumed the same ship');
  await page.keyboard.down('ArrowUp');
  await sleep(1000);
  const flown = await stats(page);
  await page.keyboard.up('ArrowUp');
  assert.equal(flown.ship_id, before.ship_id);
  const d = Math.hypot(flown.ship.x - back.ship.x, flown.ship.y - back.ship.y);
  assert.ok(d > 30, `the ship answered the reloaded page's thrust at once (moved ${d.toFixed(1)} units in 1 s)`);
  await page.close();
});

test('SIGTERM drains the real server: the page is told, and the process exits 0 within 10 s', { timeout: 30_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
  await page.goto(baseUrl);
  await page.fill('#name', 'Drain Watcher');
  await page.click('#play');
  await waitFor(page, 'playing', (s) => s.phase === 'playing');
  const exited = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));
  const t0 = Date.now();
  server.kill('SIGTERM');
  const outcome = await Promise.race([exited, sleep(10_000).then(() => ({ code: 'still running after 10 s' }))]);
  assert.deepEqual(outcome, { code: 0, signal: null }, 'clean exit');
  assert.ok(Date.now() - t0 < 10_000);
  const s = await waitFor(page, 'the page to notice', (st) => st.phase === 'lost' || st.phase === 'connecting');
  assert.ok(s);
  await page.close();
});
