// `npm start` is how a fresh clone runs the server, and process managers stop it with SIGTERM to
// the process they started: npm. npm forwards the signal to its child, the `sh -c` running the
// script; the script `exec`s node, so the signal reaches the server itself (without the exec, sh
// dies and node keeps the ports as an orphan).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { canBindTcp as tcpFree, canBindUdp as udpFree, freeTcpPort } from '../interop/helpers/procs.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A port free for UDP and TCP alike. */
async function freeUdpPort(): Promise<number> {
  for (;;) {
    const p = await freeTcpPort();
    if (await udpFree(p)) return p;
  }
}

test('SIGTERM to the `npm start` process stops the server and frees its ports', { timeout: 60_000 }, async () => {
  const wsPort = await freeTcpPort();
  const sipPort = await freeUdpPort();
  const npm = spawn('npm', ['start', '--silent'], {
    cwd: root,
    env: { ...process.env, CALLCHART_HOST: '127.0.0.1', CALLCHART_WS_PORT: String(wsPort), CALLCHART_SIP_PORT: String(sipPort), CALLCHART_LOG_LEVEL: 'info', CALLCHART_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  npm.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => npm.on('exit', (code) => resolve(code)));
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no readiness line within 40 s:\n${out}`)), 40_000);
      npm.stdout.on('data', (d) => {
        out += d;
        if (out.includes('callchart ready')) {
          clearTimeout(t);
          resolve();
        }
      });
      npm.once('exit', () => reject(new Error(`npm start exited early:\n${out}`)));
    });
    assert.equal(await tcpFree(wsPort), false, 'the server holds its WebSocket port');
    assert.equal(await udpFree(sipPort), false, 'the server holds its SIP port');

    npm.kill('SIGTERM');
    const deadline = Date.now() + 5000;
    let free = false;
    while (!free && Date.now() < deadline) {
      free = (await tcpFree(wsPort)) && (await udpFree(sipPort));
      if (!free) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(free, `ports ${wsPort}/tcp and ${sipPort}/udp still held 5 s after SIGTERM to npm:\n${out}`);
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 5000))]);
    assert.notEqual(code, 'hung', 'npm exits');
    assert.match(out, /"signal":"SIGTERM"/, 'the server itself saw the signal');
  } finally {
    npm.kill('SIGKILL');
  }
});
