// An embedded engine binds only what its options name; port 0 means an ephemeral port and false
// means off, in the library and in the CLI alike (README: "What each default binds").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { createEngine } from '../../src/engine.js';
import { parseServeArgs, serve } from '../../src/cli.js';
import { TestClient } from '../helpers/ws-client.js';

/** The HTTP status a WebSocket upgrade to `url` is refused with, or 101 when it is accepted. */
function upgradeStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => (ws.close(), resolve(101)));
    ws.once('unexpected-response', (_req, res) => (res.resume(), ws.terminate(), resolve(res.statusCode ?? 0)));
    ws.once('error', (err) => reject(err));
  });
}

test('createEngine({}) binds nothing: no WebSocket/HTTP, no SIP', async () => {
  const engine = await createEngine({}).listen();
  try {
    assert.deepEqual(engine.addresses, {});
    assert.equal(engine.sip, undefined);
    assert.equal(engine.sipPort, undefined);
    assert.equal(engine.options.wsPort, false);
    assert.equal(engine.options.sipPort, false);
    await assert.rejects(engine.call('sip:x@127.0.0.1'), /SIP is off/);
  } finally {
    await engine.close();
  }
});

test('wsPort 0 is an ephemeral port; the inbound-call protocol stays off unless asked', async () => {
  const engine = await createEngine({ host: '127.0.0.1', wsPort: 0 }).listen();
  try {
    const http = engine.addresses.http;
    assert.ok(http && http.port > 0 && http.port !== 4143, JSON.stringify(engine.addresses));
    assert.equal(http.host, '127.0.0.1');
    assert.equal(engine.addresses.sip, undefined);
    assert.equal(await upgradeStatus(`ws://127.0.0.1:${http.port}/`), 404);
  } finally {
    await engine.close();
  }
});

test('inboundCall: true serves the inbound-call protocol on /', async () => {
  const engine = await createEngine({ host: '127.0.0.1', wsPort: 0, inboundCall: true, onIncomingCall: () => ({ action: 'reject', code: 486 }) }).listen();
  try {
    const c = new TestClient(`ws://127.0.0.1:${engine.wsPort}/`);
    await c.opened();
    const hangup = await c.json('hangup');
    assert.equal(hangup.code, 486);
  } finally {
    await engine.close();
  }
});

test('sipPort 0 is an ephemeral UDP port, reported in addresses', async () => {
  const engine = await createEngine({ host: '127.0.0.1', sipPort: 0, rtpPorts: '46900-46919' }).listen();
  try {
    const sip = engine.addresses.sip;
    assert.ok(sip && sip.port > 0 && sip.port !== 5060, JSON.stringify(engine.addresses));
    assert.equal(engine.sipPort, sip.port);
    assert.equal(engine.addresses.http, undefined);
  } finally {
    await engine.close();
  }
});

test('CLI: --sip-port 0 is an ephemeral port; off and --no-sip turn SIP off; 5060 by default', () => {
  assert.equal(parseServeArgs([], {}).sipPort, 5060);
  assert.equal(parseServeArgs(['--sip-port', '0'], {}).sipPort, 0);
  assert.equal(parseServeArgs(['--sip-port', 'off'], {}).sipPort, false);
  assert.equal(parseServeArgs(['--no-sip'], {}).sipPort, false);
  assert.equal(parseServeArgs(['--no-sip', '--sip-port', '5070'], {}).sipPort, false);
  assert.equal(parseServeArgs([], { CALLCHART_SIP_PORT: 'off' }).sipPort, false);
  assert.equal(parseServeArgs([], { CALLCHART_SIP_PORT: '0' }).sipPort, 0);
  assert.throws(() => parseServeArgs(['--sip-port', 'none'], {}), /--sip-port must be a port/);
});

test('CLI serve keeps the server defaults explicitly: inbound-call protocol on /, SIP on the port given', async () => {
  const dir = (await import('node:fs')).mkdtempSync((await import('node:path')).join((await import('node:os')).tmpdir(), 'callchart-defaults-'));
  const cfg = parseServeArgs(['--host', '127.0.0.1', '--ws-port', '0', '--sip-port', '0', '--rtp-ports', '46920-46939', '--log-level', 'silent', '--data-dir', dir], {});
  const engine = await serve(cfg);
  try {
    assert.ok(engine.addresses.sip && engine.addresses.sip.port > 0, 'SIP on an ephemeral port');
    const c = new TestClient(`ws://127.0.0.1:${engine.wsPort}/`);
    await c.opened();
    assert.ok((await c.json('incoming_call')).sessionId);
    c.close();
  } finally {
    await engine.close();
  }
  const off = await serve(parseServeArgs(['--host', '127.0.0.1', '--ws-port', '0', '--no-sip', '--log-level', 'silent', '--data-dir', dir], {}));
  try {
    assert.equal(off.addresses.sip, undefined);
    assert.ok(off.addresses.http);
  } finally {
    await off.close();
  }
});
