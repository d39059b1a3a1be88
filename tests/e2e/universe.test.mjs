// End to end, a universe of two sectors: a real redis-server, two release servers as sectors
// (0,0) and (1,0), and the real page in Debian's headless Chromium. The page is loaded from the
// first sector, shows the universe's map, and the player picks the second sector on it: the
// page plays there (its socket crosses origins, which the second sector accepts because the
// first is in its directory). Then the pilot turns west and flies through the edge into the
// first sector: the page follows the hand-over at once, the ship flies on, and its prediction
// is never corrected. Screenshots in test-output/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { root, outDir, sleep, startServer, launchBrowser, stats, waitFor, freePort } from './harness.mjs';

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

/** Debian's redis-server on a free loopback port, without persistence; resolves with its URL. */
async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', outDir], { stdio: 'ignore' });
  children.push(child);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (up) return `redis://127.0.0.1:${port}`;
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await sleep(50);
  }
}

async function sector(redis, x) {
  const db = `${outDir}/e2e-universe-${process.pid}-${x}.db`;
  const s = await startServer(['--www', `${root}www`, '--db', db, '--asteroids', '0', '--arena-size', '2000',
    '--ai-pilots', '0', '--universe', redis, '--sector', `${x},0`, '--universe-size', '2,1'], children,
  { ASTEROIDS_UNIVERSE_SECRET: 'an end-to-end universe secret, 32' });
  return s.addr;
}

test('the page joins the sector picked on the universe map and flies into the next one without a correction', { timeout: 120_000 }, async () => {
  const redis = await startRedis();
  const first = await sector(redis, 0);
  const second = await sector(redis, 1);
  for (const deadline = Date.now() + 10_000; ;) {
    const listed = await (await fetch(`http://${first}/api/universe`)).json();
    if (listed.sectors.length === 2) break;
    assert.ok(Date.now() < deadline, `the sectors never listed each other: ${JSON.stringify(listed)}`);
    await sleep(100);
  }
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  page.on('pageerror', (err) => errors.push(String(err)));
  await page.goto(`http://${first}/`);
  await page.waitForFunction(() => window.asteroids && window.asteroids.ready === true, null, { timeout: 20_000 });

  // The map in the name form: both sectors, pickable.
  await page.waitForSelector('#universe button.sector:not([disabled])', { timeout: 10_000 });
  const cells = await page.$$eval('#universe button.sector', (bs) => bs.map((b) => ({ text: b.textContent, off: b.disabled })));
  assert.deepEqual(cells.map((c) => [c.text.split(' ')[0], c.off]), [['0,0', false], ['1,0', false]]);
  await page.click('#universe button.sector:nth-child(2)');
  await page.fill('#name', 'Wayfarer');
  await page.click('#play');
  const joined = await waitFor(page, 'play in the picked sector', (s) => s.phase === 'playing' && s.ship_id !== null
    && s.sector === '1,0' && s.ship !== null, 20_000);
  assert.equal(joined.sectors, 2, 'the page knows the universe');
  await page.screenshot({ path: `${outDir}/universe-joined.png` });

  // Turn west (heading ±π), then thrust through the left edge into sector 0,0.
  await page.keyboard.down('ArrowLeft');
  await waitFor(page, 'the ship facing west', (s) => s.ship_heading !== null && Math.abs(s.ship_heading) > 3.08, 10_000, 10);
  await page.keyboard.up('ArrowLeft');
  await page.keyboard.down('ArrowUp');
  const crossed = await waitFor(page, 'the ship in the first sector', (s) => s.sector === '0,0' && s.phase === 'playing'
    && s.ship !== null, 30_000, 20);
  await page.keyboard.up('ArrowUp');
  await sleep(1000);
  const after = await stats(page);
  await page.screenshot({ path: `${outDir}/universe-crossed.png` });
  assert.equal(after.sector, '0,0');
  assert.ok(after.snapshots_per_sec > 10, `snapshots stream in the new sector: ${after.snapshots_per_sec}`);
  assert.equal(after.own_corrections_10s, 0, `no own-ship correction across the edge (largest ${after.max_own_correction_10s})`);
  assert.equal(crossed.own_corrections_10s, 0);
  assert.deepEqual(errors, []);
  const universe = await (await fetch(`http://${second}/api/universe`)).json();
  assert.equal(universe.sector, '1,0');
});
