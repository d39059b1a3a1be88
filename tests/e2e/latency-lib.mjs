// What a player over a slow link feels, measured in the real page: how long from a key going
// down to the first drawn frame that shows it, and whether the own ship's drawn path ever
// jumps. Shared by tests/e2e/latency.test.mjs (which asserts) and scripts/bench-latency.mjs
// (which reports, over several links).
//
// Everything is timed inside the page, on one clock (performance.now()): a capturing keydown
// listener stamps the key, and a requestAnimationFrame sampler records, every frame, the
// drawn own ship as `window.asteroids.stats` reports it right after the page drew it.
import { sleep } from './harness.mjs';

/** The own ship's top speed, world units per second (`ship_max_speed`, shared/src/kinematics.rs). */
export const SHIP_MAX_SPEED = 420;
/** A drawn heading that moved by more than this (radians) has answered a turn key. */
export const HEADING_EPSILON = 1e-5;
/** A drawn position that moved by more than this (world units) has answered thrust. */
export const POSITION_EPSILON = 1e-4;

/** The `p`-th percentile (0..100, nearest rank) of `values`; NaN for none. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** The admin token the measured servers are started with (ASTEROIDS_ADMIN_TOKEN). */
export const ADMIN_TOKEN = 'latency-measure-admin-token';

/**
 * Inputs the server at `addr` has applied late so far (they named a tick already simulated:
 * the client's lead was too short, and its prediction had to be corrected), from
 * /admin/stats; null if it did not say.
 */
export async function lateInputs(addr) {
  const res = await fetch(`http://${addr}/admin/stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const m = (await res.text()).match(/"late_inputs":\s*(\d+)/);
  return m ? Number(m[1]) : null;
}

/** The page's debug figures (`window.asteroids.stats`) and the page's clock when read. */
export function stats(page) {
  return page.evaluate(() => ({ ...window.asteroids.stats, page_ms: performance.now() }));
}

/** Polls the stats until `predicate` holds; throws with the last ones after `timeoutMs`. */
export async function waitFor(page, what, predicate, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await page.evaluate(() => window.asteroids.stats);
    if (last && predicate(last)) return last;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}; last stats: ${JSON.stringify(last)}`);
}

/**
 * Opens `url` in a new 1280x720 page, joins as `name`, and waits for the own ship. Console
 * errors are collected into the returned `errors`.
 */
export async function join(browser, url, name) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  page.on('pageerror', (err) => errors.push(String(err)));
  // The form answers only once main.js has loaded the wasm, which over a slow link can come
  // after the page's load event (a click before that submits the form natively and reloads
  // the page): wait for the wasm, and try again if the click was still too early.
  const wasmLoaded = () => performance.getEntriesByType('resource').some((e) => e.name.endsWith('.wasm') && e.responseEnd > 0);
  await page.goto(url);
  for (let attempt = 0; ; attempt++) {
    await page.waitForFunction(wasmLoaded, null, { timeout: 20_000 });
    await sleep(200);
    await page.fill('#name', name);
    await page.click('#play');
    await sleep(500);
    const started = await page.evaluate(() => window.asteroids && window.asteroids.stats !== null)
      .catch(() => false); // the page was navigating: the click came too early
    if (started || attempt === 2) break;
    await page.waitForLoadState('load');
  }
  await waitFor(page, 'the own ship', (s) => s.phase === 'playing' && s.ship !== null, 30_000);
  return { page, errors };
}

/**
 * Installs the frame sampler and the key stamp in the page (`window.__latency`).
 *
 * Ordering: within one frame the browser runs animation-frame callbacks in the order they
 * were requested, and a callback requested from inside a callback runs in the next frame.
 * main.js's `frame` requests the next frame as it ends, so by the time this (an ordinary task,
 * outside any callback) requests the sampler, main.js's callback for the coming frame is
 * already queued: the sampler runs after it. From then on each frame runs `frame` then the
 * sampler, and each re-requests itself in that same order, so the sampler always reads the
 * stats of the picture the page has just drawn (no socket message can run between two
 * callbacks of one frame). Each sample keeps the frame's timestamp (`ft`, what the page drew
 * for) and `t`, performance.now() after the page's work: a key stamped at `k` is answered by
 * the first sample whose `t` > `k` that shows it.
 */
export async function installSampler(page) {
  await page.evaluate(() => {
    const L = { frames: [], keys: [] };
    window.__latency = L;
    addEventListener('keydown', (e) => { if (!e.repeat) L.keys.push({ t: performance.now(), code: e.code }); },
      { capture: true });
    const sample = (ft) => {
      const s = window.asteroids.stats;
      const ship = s && s.ship;
      L.frames.push({
        t: performance.now(),
        ft,
        x: ship ? ship.x : null,
        y: ship ? ship.y : null,
        h: ship ? s.ship_heading : null,
        id: s ? s.ship_id : null,
      });
      requestAnimationFrame(sample);
    };
    requestAnimationFrame(sample);
  });
}

/** The samples from index `from` on. */
export function frames(page, from = 0) {
  return page.evaluate((i) => window.__latency.frames.slice(i), from);
}

/** The median interval between the page's frames (ms), over the samples from `from` on. */
export function medianFrameMs(samples) {
  const gaps = [];
  for (let i = 1; i < samples.length; i++) gaps.push(samples[i].ft - samples[i - 1].ft);
  return percentile(gaps, 50);
}

/** How far the drawn ship of sample `b` is from that of `a`, for the quantity `kind` measures. */
function moved(kind, a, b) {
  if (kind === 'turn') {
    const d = Math.abs(b.h - a.h);
    return Math.min(d, 2 * Math.PI - d) > HEADING_EPSILON;
  }
  return Math.hypot(b.x - a.x, b.y - a.y) > POSITION_EPSILON;
}

/**
 * Waits until the drawn own ship has been still for `stillMs` (heading for a turn, position
 * for thrust): the next key is pressed "from rest". Returns false after `timeoutMs`.
 */
async function untilStill(page, kind, stillMs, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const still = await page.evaluate(({ kind, stillMs, eps }) => {
      const f = window.__latency.frames;
      const last = f[f.length - 1];
      if (!last || last.x === null || last.t - f[0].t < stillMs) return false;
      for (let i = f.length - 2; i >= 0 && last.t - f[i].t <= stillMs; i--) {
        const a = f[i];
        if (a.x === null || a.id !== last.id) return false;
        const d = kind === 'turn' ? Math.abs(a.h - last.h) : Math.hypot(a.x - last.x, a.y - last.y);
        if (d > (kind === 'turn' ? eps.h : eps.p)) return false;
      }
      return true;
    }, { kind, stillMs, eps: { h: HEADING_EPSILON, p: POSITION_EPSILON } });
    if (still) return true;
    await sleep(50);
  }
  return false;
}

/**
 * Presses `key` (`kind`: 'turn' or 'thrust') `presses` times from rest, each held until the
 * drawn ship answers (at most `holdMs`), and measures for each the time from the keydown to
 * the first drawn frame whose heading (turn) or position (thrust) differs from the one drawn
 * at the keydown. Returns `{ latencies, skipped, details }`: `skipped` counts presses not
 * measured because the ship died (a new ship id, or none drawn) around them, or never came to
 * rest.
 */
export async function measureResponses(page, { key, kind, presses, stillMs = 250, restTimeoutMs = 20_000, holdMs = 500 }) {
  const latencies = [];
  const details = [];
  let skipped = 0;
  for (let i = 0; i < presses; i++) {
    if (!(await untilStill(page, kind, stillMs, restTimeoutMs))) { skipped++; continue; }
    const from = await page.evaluate(() => window.__latency.frames.length);
    await page.keyboard.down(key);
    const deadline = Date.now() + holdMs;
    let answer = null;
    while (Date.now() < deadline && answer === null) {
      await sleep(10);
      answer = await page.evaluate(({ from, key, kind, eps }) => {
        const L = window.__latency;
        const k = [...L.keys].reverse().find((e) => e.code === key);
        if (!k) return null;
        const f = L.frames.slice(Math.max(0, from - 1));
        const at = [...f].reverse().find((s) => s.t <= k.t);
        if (!at || at.x === null) return { dead: true };
        for (const s of f) {
          if (s.t <= k.t) continue;
          if (s.x === null || s.id !== at.id) return { dead: true };
          const d = kind === 'turn'
            ? Math.min(Math.abs(s.h - at.h), 2 * Math.PI - Math.abs(s.h - at.h)) > eps.h
            : Math.hypot(s.x - at.x, s.y - at.y) > eps.p;
          if (d) {
            const framesAfter = f.filter((q) => q.t > k.t && q.t <= s.t).length;
            return { ms: s.t - k.t, frames: framesAfter, keyMs: k.t };
          }
        }
        return null;
      }, { from, key, kind, eps: { h: HEADING_EPSILON, p: POSITION_EPSILON } });
    }
    await page.keyboard.up(key);
    if (answer === null) answer = { ms: Infinity, frames: NaN }; // no answer within holdMs: counted, and fails
    if (answer.dead) { skipped++; continue; }
    latencies.push(answer.ms);
    details.push(answer);
    await sleep(kind === 'turn' ? 300 : 50);
  }
  return { latencies, skipped, details };
}

/** A small seeded generator (mulberry32): the same flight every run. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Flies for `durationMs` holding a new combination of ArrowUp / ArrowLeft / ArrowRight / Space
 * every `changeMs`, and reads the stats every second. Returns the polls (each with the page
 * time it was read at) and the frame samples of the flight.
 */
export async function fly(page, { durationMs = 20_000, changeMs = 300, seed = 7, noFire = false } = {}) {
  const random = rng(seed);
  const keys = ['ArrowUp', 'ArrowLeft', 'ArrowRight', 'Space'];
  const held = new Set();
  const from = await page.evaluate(() => window.__latency.frames.length);
  const polls = [];
  const start = Date.now();
  let nextPoll = start + 1000;
  let nextChange = start;
  while (Date.now() - start < durationMs) {
    if (Date.now() >= nextChange) {
      const want = new Set();
      if (random() < 0.6) want.add('ArrowUp');
      const turn = random();
      if (turn < 0.35) want.add('ArrowLeft');
      else if (turn < 0.7) want.add('ArrowRight');
      if (!noFire && random() < 0.3) want.add('Space');
      for (const k of keys) {
        if (held.has(k) && !want.has(k)) { await page.keyboard.up(k); held.delete(k); }
        if (!held.has(k) && want.has(k)) { await page.keyboard.down(k); held.add(k); }
      }
      nextChange += changeMs;
    }
    if (Date.now() >= nextPoll) {
      polls.push(await stats(page));
      nextPoll += 1000;
    }
    await sleep(Math.max(0, Math.min(nextChange, nextPoll) - Date.now()));
  }
  for (const k of held) await page.keyboard.up(k);
  polls.push(await stats(page));
  return { polls, samples: await frames(page, from) };
}

/**
 * The page times at which the own ship died (as the page shows it: a drawn ship that is
 * drawn no more, or replaced by another at once) and at which a new one appeared.
 */
export function shipChanges(samples) {
  const died = [];
  const spawned = [];
  for (let i = 1; i < samples.length; i++) {
    const [a, b] = [samples[i - 1], samples[i]];
    if (a.x !== null && (b.x === null || b.id !== a.id)) died.push(b.t);
    if (b.x !== null && (a.x === null || b.id !== a.id)) spawned.push(b.t);
  }
  return { died, spawned };
}

/** The page times at which the own ship died (see {@link shipChanges}). */
export function deaths(samples) {
  return shipChanges(samples).died;
}

/**
 * How long before its death (as the page shows it: no ship drawn, or a new one) the drawn
 * own ship is not held to physics, milliseconds. A destroyed ship is no longer predicted:
 * until it is gone it is drawn where the server's present has it, behind the predicted
 * place by the lead (up to ~0.3 s of flight on a slow link).
 */
export const DEATH_MARGIN_MS = 1000;

/**
 * Frame-to-frame moves of the drawn own ship faster than physics allows: more than the top
 * speed × the frame's time × 1.1 (the clocks may run up to 5 % fast) + 0.5 units. Frames
 * where no ship was drawn or the ship changed, and the last {@link DEATH_MARGIN_MS} of a ship
 * that died, are not held to it (those moves are returned apart, as `nearDeath`). Returns
 * the offending moves and the largest move's ratio to its allowance.
 */
export function jumps(samples) {
  const died = deaths(samples);
  const out = [];
  const nearDeath = [];
  let worstRatio = 0;
  for (let i = 1; i < samples.length; i++) {
    const [a, b] = [samples[i - 1], samples[i]];
    if (a.x === null || b.x === null || a.id !== b.id) continue;
    const d = Math.hypot(b.x - a.x, b.y - a.y);
    const dtMs = b.ft - a.ft;
    const allowed = (SHIP_MAX_SPEED * dtMs / 1000) * 1.1 + 0.5;
    const move = { atMs: Math.round(b.t), moved: +d.toFixed(2), allowed: +allowed.toFixed(2), dtMs: +dtMs.toFixed(1) };
    if (died.some((t) => t >= b.t && t - b.t <= DEATH_MARGIN_MS)) {
      if (d > allowed) nearDeath.push(move);
      continue;
    }
    worstRatio = Math.max(worstRatio, d / allowed);
    if (d > allowed) out.push(move);
  }
  return { jumps: out, nearDeath, worstRatio };
}

/**
 * The flight's own-ship corrections, honestly: polls whose 10-s window (`*_10s` figures)
 * saw the own ship die or a new one appear are set aside, since a death is a correction the
 * prediction cannot know of, and a new ship's first state is none. Returns the maxima over the rest, the count of own corrections (the sum over
 * polls 10 s apart, so every correction is counted once), and the skipped polls.
 */
export function summarize({ polls, samples }) {
  const { died, spawned } = shipChanges(samples);
  const changes = [...died, ...spawned];
  const windowMs = 10_500;
  const clean = polls.filter((p) => !changes.some((t) => t <= p.page_ms && t > p.page_ms - windowMs));
  const max = (xs) => xs.reduce((m, x) => Math.max(m, x ?? 0), 0);
  // Counted once: polls 10 s apart, from the last one back.
  let ownCount = 0;
  for (let i = polls.length - 1, next = Infinity; i >= 0; i--) {
    if (polls[i].page_ms <= next - 9_990) { ownCount += polls[i].own_corrections_10s; next = polls[i].page_ms; }
  }
  const median = (xs) => percentile(xs.filter((x) => x !== null && x !== undefined), 50);
  return {
    polls: polls.length,
    cleanPolls: clean.length,
    deaths: died.length,
    maxOwnCorrection: max(clean.map((p) => p.max_own_correction_10s)),
    maxOwnCorrectionAll: max(polls.map((p) => p.max_own_correction_10s)),
    ownCorrections: ownCount,
    maxOtherCorrection: max(polls.map((p) => p.max_correction_10s)),
    inputAckMs: median(polls.map((p) => p.input_ack_ms)),
    leadTicks: median(polls.map((p) => p.lead_ticks)),
    pingMs: median(polls.map((p) => p.ping_ms)),
  };
}
