// Shared by the end-to-end tests that drive the release binaries: start the server on a free
// loopback port and learn its address from its log, put the link conditioner in front of it,
// launch Debian's Chromium, and wait for a child process to exit.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

export const root = new URL('../../', import.meta.url).pathname;
export const serverBin = `${root}target/release/asteroids-server`;
export const botsBin = `${root}target/release/asteroids-bots`;
export const linkBin = `${root}target/release/asteroids-link`;
export const outDir = `${root}test-output`;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the exit code once `child` has exited (at once if it already has). */
export const exited = (child) =>
  new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.on('exit', (code) => r(code))));

/**
 * Starts the release server with `args` (after `--bind 127.0.0.1:0`), pushes it to `children`
 * (for the caller's cleanup), and resolves once it logs its address: `{ child, addr,
 * startupMs, log() }`. Rejects if it exits first or says nothing within 20 s.
 */
export function startServer(args, children, env = {}) {
  return startListening(serverBin, ['--bind', '127.0.0.1:0', ...args], children, env);
}

/**
 * Starts the link conditioner (`asteroids-link`) with `args` (at least `--listen` and
 * `--upstream`), like {@link startServer}: resolves with `{ child, addr, startupMs, log() }` once
 * it says where it listens.
 */
export function startLink(args, children) {
  return startListening(linkBin, args, children);
}

/** A loopback port that was free a moment ago (the kernel's choice for port 0). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * The server behind the link conditioner, for a page that must play over the conditioned
 * link: `{ server, link, url }`, `url` being the page's address (the link's). The page's
 * origin is then the link's, which the server must be told (`--allowed-origin`) before the
 * link exists, while the link needs the server's address: so the link's port is chosen first
 * (free a moment ago), and the pair is started again on another port if something took it
 * in between. `env` is the server's extra environment.
 */
export async function startLinkedServer(serverArgs, linkArgs, children, env = {}) {
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const server = await startServer([...serverArgs, '--allowed-origin', `http://127.0.0.1:${port}`], children, env);
    try {
      const link = await startLink(['--listen', `127.0.0.1:${port}`, '--upstream', server.addr, ...linkArgs], children);
      return { server, link, url: `http://${link.addr}/` };
    } catch (err) {
      lastError = err;
      server.child.kill('SIGKILL');
    }
  }
  throw lastError;
}

/** Debian's headless Chromium, through playwright-core, as every browser test runs it. */
export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

/** Starts `bin` with `args` and resolves once it logs `listening addr=IP:PORT`. */
function startListening(bin, args, children, env = {}) {
  const started = Date.now();
  const name = bin.split('/').pop();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      env: { ...process.env, RUST_LOG: 'info', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${name}: no start within 20 s: ${seen}`)), 20_000);
    const onData = (chunk) => {
      seen += chunk.toString();
      const m = seen.match(/listening addr=(\d+\.\d+\.\d+\.\d+:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ child, addr: m[1], startupMs: Date.now() - started, log: () => seen });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${name} exited with ${code}: ${seen}`)));
  });
}

/** The page's debug figures (`window.asteroids.stats`): the player's, or the spectator's. */
export const stats = (page) => page.evaluate(() => window.asteroids.stats);

/**
 * Polls the page's figures until `predicate` holds; returns them. Fails after `timeoutMs`
 * with what was waited for and the last figures seen.
 */
export async function waitFor(page, what, predicate, timeoutMs = 15_000, pollMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await stats(page);
    if (last && predicate(last)) return last;
    await sleep(pollMs);
  }
  throw new Error(`timed out waiting for ${what}; last stats: ${JSON.stringify(last)}`);
}
