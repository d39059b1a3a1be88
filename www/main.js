// The page's thin loop: load the wasm client, open the socket, forward socket events, keys,
// touches, the gamepad's state and animation frames to it. No game rules here: everything is
// decided in Rust.
import init, { GameClient } from './pkg/asteroids_client.js';

const canvas = document.getElementById('game');
const ctx = canvas.getContext('2d');
const form = document.getElementById('join');
const nameInput = document.getElementById('name');
const loadError = document.getElementById('load-error');

let client = null;
let socket = null;
// Before the player joins (and while the name form is up), a spectator's client and socket
// show the action behind the form.
let watcher = null;
let watcherSocket = null;
let watcherSend = () => {};

function socketUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

function flush() {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  for (let msg = client.take_outgoing(); msg !== undefined; msg = client.take_outgoing()) {
    socket.send(msg);
  }
}

// This server's universe (`/api/universe`), when it is one sector of many: the page joins the
// least loaded sector, or the one the player picks on the map in the form.
let universe = null;
let chosenSector = null;

async function loadUniverse() {
  try {
    const answer = await fetch('/api/universe');
    if (!answer.ok) return;
    universe = await answer.json();
  } catch (err) {
    return;
  }
  if (!universe.universe || universe.sectors.length === 0) {
    universe = null;
    return;
  }
  const map = document.getElementById('universe');
  const [w, h] = universe.size.split(',').map(Number);
  map.style.gridTemplateColumns = `repeat(${w}, 1fr)`;
  map.replaceChildren();
  const alive = new Map(universe.sectors.map((s) => [s.sector, s]));
  // Rows from the top: y grows upwards in the world.
  for (let y = h - 1; y >= 0; y--) {
    for (let x = 0; x < w; x++) {
      const s = alive.get(`${x},${y}`);
      const cell = document.createElement('button');
      cell.type = 'button';
      cell.className = 'sector';
      cell.disabled = !s || s.players >= s.capacity;
      cell.textContent = s ? `${x},${y} · ${s.players}` : `${x},${y} · off`;
      cell.title = s ? `sector ${x},${y}: ${s.players} of ${s.capacity} pilots` : `sector ${x},${y} is not running`;
      cell.onclick = () => {
        chosenSector = chosenSector === `${x},${y}` ? null : `${x},${y}`;
        for (const c of map.children) c.classList.toggle('chosen', c === cell && chosenSector !== null);
      };
      map.append(cell);
    }
  }
  document.getElementById('universe-box').hidden = false;
}

// Tells a new client where the universe's sectors are and lets it choose where to play.
function enterUniverse(c) {
  if (!universe) return;
  const [w, h] = universe.size.split(',').map(Number);
  for (const s of universe.sectors) {
    const [x, y] = s.sector.split(',').map(Number);
    c.know_sector(w, h, x, y, s.url, s.players, s.capacity);
  }
  const [x, y] = chosenSector ? chosenSector.split(',').map(Number) : [-1, -1];
  c.choose_sector(x, y);
}

function connect() {
  socket = new WebSocket(client.socket_url() || socketUrl());
  socket.binaryType = 'arraybuffer';
  socket.onopen = () => {
    client.on_open(performance.now());
    flush();
  };
  socket.onmessage = (event) => {
    if (!(event.data instanceof ArrayBuffer)) return;
    try {
      client.on_message(new Uint8Array(event.data), performance.now());
      const token = client.take_token();
      if (token !== undefined) localStorage.setItem('asteroids.token', token);
    } catch (err) {
      console.warn('dropping the connection after a bad server message:', err);
      socket.close(4000, 'bad server message');
    }
  };
  socket.onclose = (event) => {
    socket = null;
    client.on_close(event.code, event.reason);
    // A revoked or refused token proves nothing any more: forget it, so the name can be
    // claimed afresh once it is free.
    if (client.token_void()) localStorage.removeItem('asteroids.token');
    if (client.should_reconnect()) {
      setTimeout(connect, client.reconnect_delay_ms());
    } else if (client.rejected()) {
      // Name taken, or this browser's token is for another name: let the player choose.
      setTimeout(() => { form.hidden = false; }, 2500);
    }
  };
}

// Watches the featured pilot until the player joins; reconnects (after a pause) if the
// connection drops while the form is still up.
function watch() {
  if (watcherSocket) return;
  watcher = GameClient.spectator();
  resize();
  const ws = new WebSocket(socketUrl());
  ws.binaryType = 'arraybuffer';
  watcherSocket = ws;
  const send = () => {
    for (let msg = watcher && watcher.take_outgoing(); msg !== undefined; msg = watcher.take_outgoing()) ws.send(msg);
  };
  ws.onopen = () => { if (watcher) { watcher.on_open(performance.now()); send(); } };
  ws.onmessage = (event) => {
    if (!watcher || !(event.data instanceof ArrayBuffer)) return;
    try {
      watcher.on_message(new Uint8Array(event.data), performance.now());
      send();
    } catch (err) {
      ws.close(4000, 'bad server message');
    }
  };
  ws.onclose = () => {
    if (watcherSocket !== ws) return;
    watcherSocket = null;
    if (!client) setTimeout(watch, 3000);
  };
  watcherSend = send;
}

function stopWatching() {
  const ws = watcherSocket;
  watcherSocket = null;
  watcher = null;
  if (ws) ws.close(1000, 'joining');
}

function resize() {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(innerWidth * dpr);
  canvas.height = Math.round(innerHeight * dpr);
  if (client) client.resize(innerWidth, innerHeight);
  if (watcher) watcher.resize(innerWidth, innerHeight);
}

// The first connected gamepad, polled every frame: polling sees a pad plugged in mid-game,
// and one that is gone releases its controls.
function pollGamepad() {
  const pads = navigator.getGamepads ? navigator.getGamepads() : [];
  let pad = null;
  for (const p of pads) if (p && p.connected !== false) { pad = p; break; }
  if (!pad) {
    client.no_gamepad();
    return;
  }
  client.gamepad(Float32Array.from(pad.axes), Float32Array.from(pad.buttons, (b) => b.value),
    Uint8Array.from(pad.buttons, (b) => (b.pressed ? 1 : 0)));
}

// Time spent in client.frame, last FRAME_SAMPLES frames (window.asteroids.frameTimes()).
const FRAME_SAMPLES = 600;
const frameMs = new Float32Array(FRAME_SAMPLES);
let frameCount = 0;

function frame(now) {
  if (client) {
    pollGamepad();
    const t0 = performance.now();
    client.frame(now, ctx, window.devicePixelRatio || 1);
    frameMs[frameCount++ % FRAME_SAMPLES] = performance.now() - t0;
    flush();
  } else if (watcher) {
    watcher.frame(now, ctx, window.devicePixelRatio || 1);
    watcherSend();
  }
  requestAnimationFrame(frame);
}

// Each changed touch, by identifier; the page neither scrolls, zooms nor selects.
function onTouch(phase) {
  return (event) => {
    if (!client) return;
    event.preventDefault();
    for (const t of event.changedTouches) client.touch(phase, t.identifier, t.clientX, t.clientY);
  };
}

function onKey(down) {
  return (event) => {
    if (!client || event.target === nameInput) return;
    if (client.key(event.code, down)) event.preventDefault();
  };
}

// The debug object: `window.asteroids.stats` (see README: fps, ping_ms, snapshots_per_sec,
// downlink_bytes_per_sec, corrections_10s, max_correction_10s, max_asteroid_correction_10s…).
// `textBoxes()`: the last frame's text boxes as [x, y, width, height] (CSS pixels), for layout
// tests; `frameTimes()`: the last frames' time in client.frame, milliseconds.
window.asteroids = {
  // The player's client once it joined, the spectator's before (phase "spectating").
  get stats() {
    const c = client || watcher;
    return c ? c.stats(performance.now()) : null;
  },
  textBoxes() {
    if (!client) return [];
    const flat = client.text_boxes();
    const boxes = [];
    for (let i = 0; i + 3 < flat.length; i += 4) boxes.push(Array.from(flat.subarray(i, i + 4)));
    return boxes;
  },
  frameTimes() { return Array.from(frameMs.subarray(0, Math.min(frameCount, FRAME_SAMPLES))); },
};

async function main() {
  try {
    await init();
  } catch (err) {
    loadError.textContent = `The game could not load (${err}). Reload the page.`;
    loadError.hidden = false;
    return;
  }
  nameInput.value = localStorage.getItem('asteroids.name') || '';
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    // A saved token belongs to the saved name: present it only for that name.
    const sameName = (localStorage.getItem('asteroids.name') || '').toLowerCase() === name.toLowerCase();
    if (!sameName) localStorage.removeItem('asteroids.token');
    localStorage.setItem('asteroids.name', name);
    stopWatching();
    client = new GameClient(name, localStorage.getItem('asteroids.token') || undefined);
    enterUniverse(client);
    if (matchMedia('(pointer: coarse)').matches) client.show_touch_controls();
    form.hidden = true;
    nameInput.blur();
    resize();
    connect();
    canvas.focus();
  });
  addEventListener('resize', resize);
  addEventListener('keydown', onKey(true));
  addEventListener('keyup', onKey(false));
  addEventListener('blur', () => client && client.blur());
  for (const [type, phase] of [['touchstart', 'start'], ['touchmove', 'move'], ['touchend', 'end'],
    ['touchcancel', 'cancel']]) {
    canvas.addEventListener(type, onTouch(phase), { passive: false });
  }
  resize();
  watch();
  loadUniverse();
  requestAnimationFrame(frame);
  // Play stays disabled until the listener above exists: a native submit would reload the page
  // (over a slow link, a quick player clicked before the client had loaded). Tests wait for it.
  document.getElementById('play').disabled = false;
  window.asteroids.ready = true;
}

main();
