// End to end, a world that is never empty: the real server (release build) and the real page in
// Debian's headless Chromium. (a) Before joining, the page spectates: behind the name form it
// follows the featured pilot (an AI pilot here) and the action moves. (b) With `--ai-pilots 10`
// and one human in a small arena, AI ships come into view and fire (bullets the page never
// fired). (c) In a dense field, a freshly spawned ship is drawn shielded and survives its
// protection time, doing nothing; the shield is gone after it. Screenshots in test-output/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { root, outDir, sleep, startServer, launchBrowser, stats, waitFor } from './harness.mjs';

const children = [];
let browser;

before(async () => {
  mkdirSync(outDir, { recursive: true });
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

async function server(args) {
  const db = `${outDir}/e2e-world-${process.pid}-${children.length}.db`;
  const s = await startServer([...args, '--www', `${root}www`, '--db', db], children);
  return `http://${s.addr}/`;
}

async function newPage(url) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(url);
  await page.waitForFunction(() => window.asteroids && window.asteroids.ready === true, null, { timeout: 20_000 });
  return { page, errors };
}

async function join(page, name) {
  await page.fill('#name', name);
  await page.click('#play');
  return waitFor(page, 'the ship', (s) => s.phase === 'playing' && s.ship !== null, 20_000);
}

test('before joining, the page spectates the featured pilot, and AI ships fly and fire around a lone player', { timeout: 120_000 }, async () => {
  const url = await server(['--asteroids', '150', '--arena-size', '2400', '--ai-pilots', '10']);
  const { page, errors } = await newPage(url);
  // (a) Spectating behind the name form.
  const watching = await waitFor(page, 'a spectated pilot', (s) => s.phase === 'spectating' && s.watching !== null
    && s.other_ships > 0, 20_000);
  assert.match(watching.watching, /^AI /, `an AI pilot is featured: ${watching.watching}`);
  assert.equal(watching.ship_id, null, 'a spectator has no ship');
  assert.ok(await page.isVisible('#join'), 'the name form stays up while spectating');
  await sleep(1500);
  await page.screenshot({ path: `${outDir}/spectating.png` });
  const later = await stats(page);
  assert.equal(later.phase, 'spectating');
  assert.ok(later.snapshots_per_sec > 10, `the action streams: ${later.snapshots_per_sec} snapshots/s`);

  // (b) One human among ten AI pilots: AI ships in view, and bullets this page never fired.
  await join(page, 'Lone');
  const seen = await waitFor(page, 'AI ships in view, firing', (s) => s.other_ships > 0 && s.bullets > 0, 30_000);
  assert.ok(seen.other_ships >= 1, JSON.stringify(seen));
  await page.screenshot({ path: `${outDir}/ai-pilots.png` });
  const board = await page.evaluate(() => window.asteroids.stats);
  assert.equal(board.intent.fire, false, 'the page never fired: the bullets are the AI pilots\'');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a freshly spawned ship is shielded and survives its protection time in a dense field', { timeout: 120_000 }, async () => {
  // Dense: 1,200 asteroids in 3,000 × 3,000, about one every 7,500 units² (a screen holds a
  // hundred), with no AI pilots so nothing else fires.
  const url = await server(['--asteroids', '1200', '--arena-size', '3000', '--ai-pilots', '0']);
  const { page, errors } = await newPage(url);
  const spawned = await join(page, 'Shielded');
  const started = Date.now();
  assert.equal(spawned.ship_shielded, true, 'a new ship is drawn shielded');
  await sleep(300);
  await page.screenshot({ path: `${outDir}/spawn-protection.png` });
  // Idle through the protection time (3 s from the spawn; the page saw the ship a little after).
  while (Date.now() - started < 2700) {
    const s = await stats(page);
    assert.equal(s.ship_id, spawned.ship_id, `the ship survived: ${JSON.stringify(s)}`);
    assert.notEqual(s.ship, null, 'the ship is still drawn');
    await sleep(100);
  }
  // After it, the shield is gone (if the ship still flies: now it can be hit).
  const after = await waitFor(page, 'the shield to end', (s) => s.ship_id !== spawned.ship_id || s.ship_shielded === false,
    3000);
  if (after.ship_id === spawned.ship_id) assert.equal(after.ship_shielded, false);
  assert.deepEqual(errors, []);
  await page.close();
});
