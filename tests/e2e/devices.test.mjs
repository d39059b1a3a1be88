// End to end, on other devices than a desktop keyboard: the real server (release build, no AI
// pilots: their bullets would count as the page's) and the real page in Debian's headless
// Chromium. (a) An emulated phone (390×844, devicePixelRatio 3, touch only) joins through the
// name form and flies with touch alone: thumb stick and fire button held at once by two
// fingers (CDP touch events); nothing overflows the viewport, portrait or landscape, and the
// page's frame time is measured. (b) A gamepad stubbed into navigator.getGamepads is plugged in
// mid-game, flies the ship, and when it disappears its controls are released. (c) Desktop
// screens at devicePixelRatio 1 and 2: the canvas's backing store is sized by the ratio.
// Screenshots in test-output/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { root, outDir, sleep, startServer, launchBrowser, stats, waitFor } from './harness.mjs';

const children = [];
let baseUrl;
let browser;

before(async () => {
  mkdirSync(outDir, { recursive: true });
  const db = `${outDir}/e2e-devices-${process.pid}.db`;
  const server = await startServer(['--asteroids', '60', '--arena-size', '6000', '--ai-pilots', '0', '--www', `${root}www`,
    '--db', db], children);
  baseUrl = `http://${server.addr}/`;
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

const angle = (a, b) => Math.abs(Math.atan2(Math.sin(a - b), Math.cos(a - b)));

/** A new page with console errors collected into `errors`. */
async function newPage(contextOptions) {
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  const errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  page.on('pageerror', (err) => errors.push(String(err)));
  return { context, page, errors };
}

/** Loads the page and waits until the wasm client is loaded and the form's submit is the page's. */
async function open(page) {
  await page.goto(baseUrl);
  await page.waitForFunction(() => window.asteroids && window.asteroids.ready === true, null, { timeout: 20_000 });
}

/**
 * Nothing overflows: the document does not scroll either way, and every text the HUD drew in
 * the last frame lies within the viewport (`hud: false` before joining, when there is none).
 */
async function assertFits(page, label, { hud = true } = {}) {
  const fit = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    scrollHeight: document.documentElement.scrollHeight,
    innerWidth,
    innerHeight,
    boxes: window.asteroids.textBoxes(),
    scrollX,
    scrollY,
  }));
  assert.deepEqual([fit.scrollX, fit.scrollY], [0, 0], `${label}: the page has not scrolled`);
  assert.ok(fit.scrollWidth <= fit.innerWidth, `${label}: page is ${fit.scrollWidth} px wide in ${fit.innerWidth}`);
  assert.ok(fit.scrollHeight <= fit.innerHeight, `${label}: page is ${fit.scrollHeight} px tall in ${fit.innerHeight}`);
  if (hud) assert.ok(fit.boxes.length >= 3, `${label}: the HUD drew texts (${fit.boxes.length})`);
  for (const [x, y, w, h] of fit.boxes) {
    assert.ok(x >= 0 && y >= 0 && x + w <= fit.innerWidth && y + h <= fit.innerHeight,
      `${label}: a text box [${x}, ${y}, ${w}, ${h}] leaves the ${fit.innerWidth}×${fit.innerHeight} viewport`);
  }
  return fit;
}

/**
 * Whether the touch controls' FIRE label was drawn in the last frame: a text box centred on the
 * fire button, bottom right (touch.rs: FIRE_RADIUS 44 px, 28 px from the edges).
 */
async function fireLabelDrawn(page) {
  return page.evaluate(() => window.asteroids.textBoxes().some(([x, y, w, h]) =>
    Math.abs(x + w / 2 - (innerWidth - 72)) < 2 && Math.abs(y + h / 2 - (innerHeight - 72)) < 12));
}

/** Median and 95th percentile of `xs`. */
function percentiles(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { n: s.length, median: at(0.5), p95: at(0.95) };
}

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true };

test('a phone joins with the name form and flies, turns and fires with touch alone', { timeout: 120_000 }, async () => {
  const { context, page, errors } = await newPage(PHONE);
  await open(page);

  // The form sits at the top half, so an on-screen keyboard (the bottom half) leaves it usable,
  // and its input is large enough that iOS does not zoom into it.
  const form = await page.evaluate(() => {
    const input = document.getElementById('name').getBoundingClientRect();
    return { inputBottom: input.bottom, fontPx: parseFloat(getComputedStyle(document.getElementById('name')).fontSize) };
  });
  assert.ok(form.inputBottom < 844 / 2, `the name field is in the top half (bottom at ${form.inputBottom})`);
  assert.ok(form.fontPx >= 16, `the name field's font is ${form.fontPx} px`);
  await assertFits(page, 'phone, name form', { hud: false });

  await page.tap('#name');
  await page.keyboard.type('Thumbs');
  await page.tap('#play');
  const first = await waitFor(page, 'the ship in view', (s) => s.phase === 'playing' && s.ship !== null && s.entities > 1);
  const css = await page.evaluate(() => ['game', 'body'].map((id) => {
    const style = getComputedStyle(id === 'body' ? document.body : document.getElementById(id));
    return [style.touchAction, style.userSelect];
  }));
  assert.deepEqual(css, [['none', 'none'], ['none', 'none']], 'no panning, zooming or selecting on the canvas and body');

  // Two fingers through CDP: the thumb lands on the left half and drags up and left (thrust,
  // turn left), then a second finger holds the fire button; both stay down together.
  const cdp = await context.newCDPSession(page);
  const touch = (type, points) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: points });
  const stick = { x: 110, y: 640, id: 1 };
  await touch('touchStart', [stick]);
  for (let i = 1; i <= 5; i++) {
    await touch('touchMove', [{ ...stick, x: stick.x - 9 * i, y: stick.y - 9 * i }]);
  }
  const held = { ...stick, x: stick.x - 45, y: stick.y - 45 };
  await touch('touchStart', [held, { x: 330, y: 770, id: 2 }]);
  let bullets = 0;
  let turned = 0;
  let moved = 0;
  let intent = null;
  const t0 = Date.now();
  while (Date.now() - t0 < 1500) {
    const s = await stats(page);
    intent = intent || s.intent;
    if (s.ship_id === first.ship_id && s.ship) {
      turned = Math.max(turned, angle(s.ship_heading, first.ship_heading));
      moved = Math.max(moved, Math.hypot(s.ship.x - first.ship.x, s.ship.y - first.ship.y));
    }
    bullets = Math.max(bullets, s.bullets);
    await sleep(50);
  }
  await page.screenshot({ path: `${outDir}/phone.png` });
  const fit = await assertFits(page, 'phone, playing');
  await touch('touchEnd', []);
  const released = await waitFor(page, 'the controls released', (s) => !s.intent.thrust && !s.intent.fire && s.intent.turn === 0, 2000);
  console.log(`phone: intent while held ${JSON.stringify(intent)}; turned ${turned.toFixed(2)} rad, moved ${moved.toFixed(0)} units, ` +
    `${bullets} bullets; ${fit.boxes.length} text boxes inside; released ${JSON.stringify(released.intent)}`);
  assert.deepEqual(intent, { thrust: true, turn: 1, fire: true }, 'stick and fire held at once');
  assert.ok(turned > 0.3, `the ship turned ${turned.toFixed(2)} rad`);
  assert.ok(moved > 20, `the ship moved ${moved.toFixed(0)} units`);
  assert.ok(bullets > 0, 'bullets appeared');
  const canvas = await page.evaluate(() => [document.getElementById('game').width, document.getElementById('game').height]);
  assert.deepEqual(canvas, [390 * 3, 844 * 3], 'the canvas is sharp at devicePixelRatio 3');

  // The page's frame time over 10 s of play (stick circling, fire held): requestAnimationFrame
  // intervals, and the time spent in client.frame. DEVICES_CPU_THROTTLE=N slows the page's CPU
  // N times (Chromium's emulation), for a figure closer to a phone's.
  const throttle = Number(process.env.DEVICES_CPU_THROTTLE || 1);
  if (throttle > 1) await cdp.send('Emulation.setCPUThrottlingRate', { rate: throttle });
  await page.evaluate(() => {
    window.__rafIntervals = [];
    let last = null;
    const tick = (now) => {
      if (last !== null) window.__rafIntervals.push(now - last);
      last = now;
      if (window.__rafIntervals.length < 100_000) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  await touch('touchStart', [stick, { x: 330, y: 770, id: 2 }]);
  const m0 = Date.now();
  for (let i = 0; Date.now() - m0 < 10_000; i++) {
    const a = i * 0.3;
    await touch('touchMove', [{ ...stick, x: stick.x + 45 * Math.cos(a), y: stick.y + 45 * Math.sin(a) }, { x: 330, y: 770, id: 2 }]);
    await sleep(100);
  }
  await touch('touchEnd', []);
  const timing = await page.evaluate(() => ({ raf: window.__rafIntervals, frame: window.asteroids.frameTimes() }));
  const raf = percentiles(timing.raf);
  const frame = percentiles(timing.frame.slice(-Math.min(timing.frame.length, timing.raf.length)));
  if (throttle > 1) await cdp.send('Emulation.setCPUThrottlingRate', { rate: 1 });
  console.log(`phone frame time (10 s, CPU ×${throttle}): rAF interval median ${raf.median.toFixed(2)} ms, p95 ${raf.p95.toFixed(2)} ms ` +
    `(${raf.n} frames); client.frame median ${frame.median.toFixed(2)} ms, p95 ${frame.p95.toFixed(2)} ms (${frame.n} frames)`);
  assert.ok(raf.n > 100, `frames were drawn (${raf.n})`);
  assert.deepEqual(errors, [], 'no console errors');
  await context.close();
});

test('a landscape phone fits the HUD and the controls', { timeout: 60_000 }, async () => {
  const { context, page, errors } = await newPage({ ...PHONE, viewport: { width: 844, height: 390 } });
  await open(page);
  const inputBottom = await page.evaluate(() => document.getElementById('name').getBoundingClientRect().bottom);
  assert.ok(inputBottom < 390 / 2 + 20, `the name field is near the top (bottom at ${inputBottom})`);
  await page.tap('#name');
  await page.keyboard.type('Sideways');
  await page.tap('#play');
  await waitFor(page, 'the ship in view', (s) => s.phase === 'playing' && s.ship !== null && s.entities > 1);
  assert.ok(await fireLabelDrawn(page), 'a coarse pointer shows the touch controls before the first touch');
  await page.touchscreen.tap(700, 300);
  await sleep(500);
  await page.screenshot({ path: `${outDir}/phone-landscape.png` });
  await assertFits(page, 'landscape phone');
  assert.deepEqual(errors, [], 'no console errors');
  await context.close();
});

// Replaces the Gamepad API before the page loads: `window.__pad` is the fake pad the test
// changes, `window.__padPlugged` whether getGamepads() returns it.
function stubGamepads() {
  window.__pad = {
    id: 'Test pad (STANDARD GAMEPAD)', index: 0, connected: true, mapping: 'standard', timestamp: 0,
    axes: [0, 0, 0, 0],
    buttons: Array.from({ length: 17 }, () => ({ pressed: false, touched: false, value: 0 })),
  };
  window.__padPlugged = false;
  Object.defineProperty(Navigator.prototype, 'getGamepads', {
    configurable: true,
    value: () => [window.__padPlugged ? window.__pad : null, null, null, null],
  });
}

test('a gamepad plugged in mid-game flies the ship, and unplugging it releases the controls', { timeout: 60_000 }, async () => {
  const { context, page, errors } = await newPage({ viewport: { width: 1280, height: 720 } });
  await page.addInitScript(stubGamepads);
  await open(page);
  await page.fill('#name', 'Pad Pilot');
  await page.click('#play');
  const first = await waitFor(page, 'the ship in view', (s) => s.phase === 'playing' && s.ship !== null && s.entities > 1);
  assert.deepEqual(first.intent, { thrust: false, turn: 0, fire: false }, 'no pad, nothing held');

  // Plug it in, then: stick left (turn left), right trigger (thrust), B (fire).
  await page.evaluate(() => {
    window.__padPlugged = true;
    window.__pad.axes[0] = -1;
    window.__pad.buttons[7] = { pressed: true, touched: true, value: 1 };
    window.__pad.buttons[1] = { pressed: true, touched: true, value: 1 };
  });
  let bullets = 0;
  let turned = 0;
  let moved = 0;
  const during = await waitFor(page, 'the pad to hold the controls', (s) => s.intent.thrust && s.intent.fire && s.intent.turn === 1, 2000);
  const t0 = Date.now();
  while (Date.now() - t0 < 1500) {
    const s = await stats(page);
    if (s.ship_id === first.ship_id && s.ship) {
      turned = Math.max(turned, angle(s.ship_heading, first.ship_heading));
      moved = Math.max(moved, Math.hypot(s.ship.x - first.ship.x, s.ship.y - first.ship.y));
    }
    bullets = Math.max(bullets, s.bullets);
    await sleep(50);
  }
  await page.screenshot({ path: `${outDir}/gamepad.png` });
  assert.ok(turned > 0.3, `the ship turned ${turned.toFixed(2)} rad`);
  assert.ok(moved > 20, `the ship moved ${moved.toFixed(0)} units`);
  assert.ok(bullets > 0, 'bullets appeared');

  // Unplug it with everything still held: the controls let go.
  await page.evaluate(() => { window.__padPlugged = false; });
  const after = await waitFor(page, 'the controls released', (s) => !s.intent.thrust && !s.intent.fire && s.intent.turn === 0, 2000);
  const h0 = after.ship_heading;
  await sleep(500);
  const later = await stats(page);
  console.log(`gamepad: held ${JSON.stringify(during.intent)}; turned ${turned.toFixed(2)} rad, moved ${moved.toFixed(0)} units, ` +
    `${bullets} bullets; unplugged: ${JSON.stringify(later.intent)}, heading ${h0} → ${later.ship_heading}`);
  if (later.ship_id === after.ship_id && h0 !== null) {
    assert.ok(angle(later.ship_heading, h0) < 0.05, 'the ship no longer turns');
  }
  assert.deepEqual(errors, [], 'no console errors');
  await context.close();
});

test('desktop screens at devicePixelRatio 1 and 2 size the canvas by the ratio and fit the HUD', { timeout: 60_000 }, async () => {
  for (const [width, height, dpr, file] of [[1280, 720, 1, 'desktop.png'], [2560, 1440, 2, 'desktop-2560-dpr2.png']]) {
    const { context, page, errors } = await newPage({ viewport: { width, height }, deviceScaleFactor: dpr });
    await open(page);
    await page.fill('#name', `Desk ${dpr}`);
    await page.click('#play');
    await waitFor(page, 'the ship in view', (s) => s.phase === 'playing' && s.ship !== null && s.entities > 1);
    await sleep(500);
    const canvas = await page.evaluate(() => [document.getElementById('game').width, document.getElementById('game').height]);
    assert.deepEqual(canvas, [width * dpr, height * dpr], `the backing store of a ${width}×${height} canvas at dpr ${dpr}`);
    const fit = await assertFits(page, `${width}×${height}@${dpr}`);
    assert.ok(!(await fireLabelDrawn(page)), 'no touch controls on a desktop that has seen no touch');
    // The HUD scales with the screen: the score line is taller on the larger screen.
    console.log(`${width}×${height}@${dpr}: canvas ${canvas.join('×')}, tallest text box ${Math.max(...fit.boxes.map((b) => b[3])).toFixed(1)} px`);
    await page.screenshot({ path: `${outDir}/${file}` });
    assert.deepEqual(errors, [], 'no console errors');
    await context.close();
  }
});
