#!/usr/bin/env node
// What a player feels over four links (50 ± 10 ms and 150 ± 30 ms each way, each with and
// without a 200 ms downlink stall every 3 s): the real page in Debian's headless Chromium,
// loaded through the link conditioner in front of the release server (asteroids and AI
// pilots, so other things move). Per link: keydown to drawn motion (turn and thrust from
// rest), then ~20 s of flying with changing controls; prints the figures the page's debug
// object reports. A benchmark, not a test: it asserts nothing. The measuring code is
// tests/e2e/latency-lib.mjs, shared with tests/e2e/latency.test.mjs.
//
//   node scripts/bench-latency.mjs [--flight-secs 20] [--presses 10]
//
// Needs www/pkg (scripts/build-client.sh) and the release asteroids-server and asteroids-link.
import { launchBrowser, root, startLinkedServer } from '../tests/e2e/harness.mjs';
import {
  ADMIN_TOKEN, fly, frames, installSampler, join, jumps, lateInputs, measureResponses, medianFrameMs, percentile, summarize,
} from '../tests/e2e/latency-lib.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const flightMs = arg('--flight-secs', 20) * 1000;
const presses = arg('--presses', 10);

/** One way: `delay` plus a uniform 0..`jitter` (so 40 + 0..20 is 50 ± 10). */
const links = [
  { name: '50±10 ms', delay: 40, jitter: 20, stall: false },
  { name: '50±10 ms + stalls', delay: 40, jitter: 20, stall: true },
  { name: '150±30 ms', delay: 120, jitter: 60, stall: false },
  { name: '150±30 ms + stalls', delay: 120, jitter: 60, stall: true },
];

const serverArgs = ['--asteroids', '100', '--arena-size', '4000', '--ai-pilots', '10', '--www', `${root}www`,
  '--db', ':memory:'];

async function measure(browser, link) {
  const children = [];
  const linkArgs = ['--delay-ms', String(link.delay), '--jitter-ms', String(link.jitter), '--seed', '1'];
  if (link.stall) linkArgs.push('--stall-ms', '200', '--stall-every-ms', '3000', '--stall-direction', 'down');
  try {
    const { url, server } = await startLinkedServer(serverArgs, linkArgs, children, { ASTEROIDS_ADMIN_TOKEN: ADMIN_TOKEN });
    const { page } = await join(browser, url, 'Bench Pilot');
    await installSampler(page);
    const turn = await measureResponses(page, { key: 'ArrowLeft', kind: 'turn', presses });
    const thrust = await measureResponses(page, { key: 'ArrowUp', kind: 'thrust', presses: 3 });
    const frameMs = medianFrameMs(await frames(page));
    const flight = await fly(page, { durationMs: flightMs });
    const s = summarize(flight);
    const j = jumps(flight.samples);
    const late = await lateInputs(server.addr);
    await page.close();
    const all = [...turn.latencies, ...thrust.latencies];
    return {
      link: link.name,
      frame_ms: frameMs,
      input_to_motion_p50_ms: percentile(all, 50),
      input_to_motion_p95_ms: percentile(all, 95),
      input_to_motion_max_ms: Math.max(...all),
      measured: all.length,
      skipped: turn.skipped + thrust.skipped,
      own_corrections: s.ownCorrections,
      own_correction_max: s.maxOwnCorrection,
      own_correction_max_all: s.maxOwnCorrectionAll,
      clean_polls: `${s.cleanPolls}/${s.polls}`,
      other_correction_max: s.maxOtherCorrection,
      input_ack_ms: s.inputAckMs,
      lead_ticks: s.leadTicks,
      ping_ms: s.pingMs,
      deaths: s.deaths,
      late_inputs: late,
      frame_jumps: j.jumps.length,
      worst_frame_move_pct: 100 * j.worstRatio,
    };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  }
}

const browser = await launchBrowser();
const rows = [];
try {
  for (const link of links) {
    const row = await measure(browser, link);
    rows.push(row);
    console.error(`bench-latency: ${JSON.stringify(row)}`);
  }
} finally {
  await browser.close();
}

const columns = [
  ['link', 'link', (v) => v],
  ['input→motion p50 ms', 'input_to_motion_p50_ms', (v) => v.toFixed(1)],
  ['p95 ms', 'input_to_motion_p95_ms', (v) => v.toFixed(1)],
  ['own corr. n', 'own_corrections', (v) => String(v)],
  ['own corr. max', 'own_correction_max', (v) => v.toFixed(2)],
  ['(all polls)', 'own_correction_max_all', (v) => v.toFixed(2)],
  ['others corr. max', 'other_correction_max', (v) => v.toFixed(2)],
  ['input ack ms', 'input_ack_ms', (v) => v.toFixed(0)],
  ['lead ticks', 'lead_ticks', (v) => v.toFixed(1)],
  ['ping ms', 'ping_ms', (v) => v.toFixed(0)],
  ['clean polls', 'clean_polls', (v) => v],
  ['deaths', 'deaths', (v) => String(v)],
  ['late inputs', 'late_inputs', (v) => String(v)],
  ['frame jumps', 'frame_jumps', (v) => String(v)],
];
const cells = rows.map((r) => columns.map(([, key, f]) => f(r[key])));
const widths = columns.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
const line = (c) => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
console.log(line(columns.map(([h]) => h)));
for (const c of cells) console.log(line(c));
console.log(`(input→motion: ${presses} turns and 3 thrusts from rest, keydown to the first drawn frame that shows it; ` +
  `corrections over ${flightMs / 1000} s of changing controls, own in world units (max: over the one-second polls ` +
  'whose 10 s window saw no death or new ship, "clean polls"; and over all polls), others from max_correction_10s; ' +
  'input ack, lead, ping: medians of one-second polls; late inputs: applied late by the server, whole run)');
