// Shared by the end-to-end tests that drive the release binaries: start the server on a free
// loopback port and learn its address from its log, and wait for a child process to exit.
import { spawn } from 'node:child_process';

export const root = new URL('../../', import.meta.url).pathname;
export const serverBin = `${root}target/release/asteroids-server`;
export const botsBin = `${root}target/release/asteroids-bots`;
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
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(serverBin, ['--bind', '127.0.0.1:0', ...args], {
      env: { ...process.env, RUST_LOG: 'info', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no start within 20 s: ${seen}`)), 20_000);
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
    child.on('exit', (code) => reject(new Error(`server exited with ${code}: ${seen}`)));
  });
}
