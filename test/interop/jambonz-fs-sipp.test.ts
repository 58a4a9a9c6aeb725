// callchart as the jambonz feature-server against SIPp: SIPp's uac_pcap-style scenario calls an
// engine with `jambonzApp` (what `callchart serve --jambonz-app` builds) that points at a callchart
// hook route; the app gathers one digit, and the RFC 2833 "1" in SIPp's pcap reaches its
// actionHook. The app then pauses and SIPp ends the call with its BYE.
// Needs `sipp` and root/CAP_NET_RAW for pcap play. Run: npm run test:interop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine, type Engine } from '../../src/engine.js';
import type { JambonzHookData } from '../../src/jambonz/index.js';
import { runSipp, describeSipp, scenarioPath, requireSipp } from './helpers/sipp.js';
import { within } from './helpers/engine.js';

before(() => {
  requireSipp();
});

const engines: Engine[] = [];
after(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

test('SIPp pcap call (RFC 2833 "1") → jambonz feature-server → callchart hook app: the actionHook gets digits 1', { timeout: 60_000 }, async () => {
  let resolveHook!: (d: JambonzHookData) => void;
  const hooked = new Promise<JambonzHookData>((r) => (resolveHook = r));
  const app = createEngine({ host: '127.0.0.1', wsPort: 0 });
  engines.push(app);
  app.jambonz.hook('/app', (s) => {
    s.gather({ actionHook: '/digits', input: ['digits'], numDigits: 1, timeout: 15 }).reply();
    s.on('/digits', (data) => {
      resolveHook(data);
      s.reply([{ verb: 'pause', length: 30 }]);
    });
  });
  await app.listen();
  const fs = createEngine({ host: '127.0.0.1', sipPort: 0, rtpPorts: '38600-38699', logLevel: 'warn', jambonzApp: { url: `ws://127.0.0.1:${app.wsPort}/app` } });
  engines.push(fs);
  await fs.listen();
  const r = await runSipp({ scenario: scenarioPath('uac-pcap-g711a-dtmf'), remote: `127.0.0.1:${fs.sipPort}`, timeoutMs: 30_000 });
  const why = describeSipp(r);
  assert.equal(r.exitCode, 0, why);
  assert.equal(r.stats?.successfulCalls, 1, why);
  const data = await within(hooked, 5000, 'the actionHook');
  assert.equal(data.digits, '1');
  assert.equal(data.reason, 'dtmfDetected');
  assert.equal(data.direction, 'inbound');
});
