// baresip ↔ callchart ↔ inbound-call WebSocket client, bridged (issue 17, must hold): a real
// softphone dials examples/bridge-phone-ws.ts (run as its own process, as a user would), which
// bridges the SIP call with the WebSocket caller waiting there. baresip talks 600 Hz (ausine), the
// WebSocket client 1800 Hz; each must hear the other's tone and not its own — baresip's from its
// sndfile recording (what it decoded), the client's from the binary frames it received.
// Needs `baresip` (apt-get install baresip-core). Run: npm run test:interop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { heardBy, withDiagnostics } from './helpers/baresip-audio.js';
import { startBaresip, requireBaresip } from './helpers/baresip.js';
import { within } from './helpers/engine.js';
import { LOOPBACK, Tail, terminate, track, waitUntil } from './helpers/procs.js';
import { ToneCaller, assertHears } from '../helpers/ws-tone-caller.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const root = mkdtempSync(path.join(tmpdir(), 'callchart-bridge-ws-'));

before(() => {
  requireBaresip();
});
after(() => rmSync(root, { recursive: true, force: true }));

test('baresip (600 Hz) ↔ callchart ↔ WebSocket client (1800 Hz), bridged: each hears the other and not itself', { timeout: 60_000 }, async () => {
  // The app: examples/bridge-phone-ws.ts on ephemeral SIP/WS ports, RTP in this suite's own range.
  const out = new Tail();
  const app = track(
    spawn(process.execPath, ['--import', 'tsx', 'examples/bridge-phone-ws.ts'], {
      cwd: ROOT,
      env: { ...process.env, CALLCHART_HOST: LOOPBACK, CALLCHART_WS_PORT: '0', CALLCHART_SIP_PORT: '0', CALLCHART_RTP_PORTS: '41300-41399' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  app.stdout!.on('data', (d: Buffer) => out.push(d));
  app.stderr!.on('data', (d: Buffer) => out.push(d));
  const bob = await startBaresip({ user: 'bob', sineHz: 600, recordTo: path.join(root, 'bob'), timeoutMs: 60_000 });
  const ws = { caller: undefined as ToneCaller | undefined };
  try {
    let ports: RegExpExecArray | null = null;
    await waitUntil(() => (ports = /"wsPort":(\d+),"sipPort":(\d+)[^\n]*example ready/.exec(out.toString())) !== null, 20_000, `the example app to start (output: ${out})`);
    const [wsPort, sipPort] = [Number(ports![1]), Number(ports![2])];

    const caller = new ToneCaller(`ws://${LOOPBACK}:${wsPort}/`);
    ws.caller = caller;
    await caller.answered();
    await waitUntil(() => /websocket caller waiting/.test(out.toString()), 5000, 'the WS caller to wait');

    const dialed = await bob.dial(`sip:ws@${LOOPBACK}:${sipPort}`);
    assert.ok(dialed.ok, `dial refused: ${dialed.data}`);
    await bob.waitFor((ev) => ev.type === 'CALL_ESTABLISHED', 10_000, 'CALL_ESTABLISHED');
    await waitUntil(() => /example: bridged/.test(out.toString()), 5000, `the app to bridge (output: ${out})`);
    // 3 s of the client's tone, while baresip's runs all along.
    await caller.sendTone(1800, 3000);
    await bob.hangup();
    await bob.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, 'CALL_CLOSED');
    const closed = await within(caller.c.waitClose(8000), 8000, 'the WS caller to be hung up with the phone');
    assert.equal(closed.code, 1000);
    await waitUntil(() => /example: bridge over/.test(out.toString()), 5000, 'the app to log the bridge');
    const over = /"aToB":(\d+),"bToA":(\d+)[^\n]*example: bridge over/.exec(out.toString());
    assert.ok(over && Number(over[1]) > 100 && Number(over[2]) > 100, `frames both ways: ${over?.[0]}`);

    // The first 300 ms may be silence on either side (baresip starts its tone with the stream).
    const heardWs = caller.heardSamples();
    assertHears(heardWs.subarray(Math.min(2400, heardWs.length >> 2)), 600, 1800, 'the WebSocket client');
    const heardBob = await heardBy(bob);
    assertHears(heardBob, 1800, 600, 'baresip');
  } catch (err) {
    if (err instanceof Error) err.message += `\n--- app output (tail) ---\n${out.toString().slice(-3000)}`;
    withDiagnostics(err, [bob]);
  } finally {
    ws.caller?.hangup();
    ws.caller?.c.close();
    await bob.stop();
    await terminate(app);
  }
});
