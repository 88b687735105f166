#!/usr/bin/env node
// Loads a page in headless Chromium over the DevTools protocol, evaluates
// expressions, takes a screenshot and prints the console: a smoke check of
// the built UI (no console errors, window.nvaGraph drawn). Needs chromium
// and, on Node 20, --experimental-websocket:
//
//   node --experimental-websocket dev/check-page.mjs http://127.0.0.1:8090/ \
//     --wait 3000 --shot /tmp/ui.png --eval 'window.nvaGraph.revision()' --eval 'sleep:500'
//
// Exits 1 when the page logged an error or threw.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const url = argv.find((a) => !a.startsWith('--') && !argv[argv.indexOf(a) - 1]?.startsWith('--'));
const all = (name) => argv.flatMap((a, i) => (a === `--${name}` && i + 1 < argv.length ? [argv[i + 1]] : []));
const wait = Number(all('wait')[0] ?? '3000');
const shotFile = all('shot')[0];
const evals = all('eval');
if (!url || typeof WebSocket === 'undefined') {
  console.error('usage: node --experimental-websocket dev/check-page.mjs URL [--wait ms] [--shot file.png] [--eval expr|sleep:ms|shot:file]...');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'nva-ui-check-'));
const chrome = spawn(process.env.CHROMIUM ?? 'chromium', [
  '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', `--user-data-dir=${dir}`, '--remote-debugging-port=0', 'about:blank',
], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
const cleanup = async () => {
  const exited = new Promise((r) => chrome.once('exit', r));
  try {
    process.kill(-chrome.pid, 'SIGTERM'); // chromium and its helper processes
  } catch {
    chrome.kill();
  }
  await exited;
  await new Promise((r) => setTimeout(r, 300));
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  } catch (e) {
    console.error(`left ${dir}: ${e.message}`);
  }
};
const wsUrl = await new Promise((resolve, reject) => {
  let buf = '';
  chrome.stderr.on('data', (d) => {
    buf += d;
    const m = /DevTools listening on (ws:\/\/\S+)/.exec(buf);
    if (m) resolve(m[1]);
  });
  setTimeout(() => reject(new Error('chromium did not start')), 20000);
});

const ws = new WebSocket(wsUrl);
await new Promise((r) => (ws.onopen = r));
let next = 1;
const pending = new Map();
const logs = [];
let failed = false;
ws.onmessage = (m) => {
  const msg = JSON.parse(m.data);
  if (msg.id && pending.has(msg.id)) {
    pending.get(msg.id)(msg);
    pending.delete(msg.id);
    return;
  }
  const p = msg.params;
  if (msg.method === 'Runtime.consoleAPICalled') {
    if (p.type === 'error' || p.type === 'assert') failed = true;
    logs.push(`console.${p.type}: ${p.args.map((a) => a.value ?? a.description).join(' ')}`);
  } else if (msg.method === 'Runtime.exceptionThrown') {
    failed = true;
    logs.push(`exception: ${p.exceptionDetails.exception?.description ?? p.exceptionDetails.text}`);
  } else if (msg.method === 'Log.entryAdded') {
    if (p.entry.level === 'error') failed = true;
    logs.push(`${p.entry.level} [${p.entry.source}]: ${p.entry.text} ${p.entry.url ?? ''}`);
  }
};
const send = (method, params = {}, sessionId) =>
  new Promise((resolve) => {
    const id = next++;
    pending.set(id, resolve);
    ws.send(JSON.stringify({ id, method, params, sessionId }));
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const { result: { targetId } } = await send('Target.createTarget', { url: 'about:blank' });
const { result: { sessionId } } = await send('Target.attachToTarget', { targetId, flatten: true });
for (const m of ['Runtime.enable', 'Log.enable', 'Page.enable']) await send(m, {}, sessionId);
await send('Emulation.setDeviceMetricsOverride', { width: 1400, height: 850, deviceScaleFactor: 1, mobile: false }, sessionId);
await send('Page.navigate', { url }, sessionId);
await sleep(wait);
const shot = async (file) => {
  const r = await send('Page.captureScreenshot', { format: 'png' }, sessionId);
  writeFileSync(file, Buffer.from(r.result.data, 'base64'));
};
for (const e of evals) {
  if (e.startsWith('sleep:')) await sleep(Number(e.slice(6)));
  else if (e.startsWith('shot:')) await shot(e.slice(5));
  else {
    const r = await send('Runtime.evaluate', { expression: e, awaitPromise: true, returnByValue: true }, sessionId);
    const out = r.result?.exceptionDetails ? `exception: ${r.result.exceptionDetails.exception?.description}` : JSON.stringify(r.result?.result?.value);
    console.log(`> ${e}\n${out}`);
  }
}
if (shotFile) await shot(shotFile);
console.log(`--- console (${logs.length}):${logs.length ? `\n${logs.join('\n')}` : ' none'}`);
ws.close();
await cleanup();
process.exit(failed ? 1 : 0);
