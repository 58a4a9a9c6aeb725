// `callchart serve --sip-workers 2`: the SIP calls live in worker threads, yet the main thread's
// /health, drain and /metrics speak for the whole server. Real UDP on loopback, a raw SIP client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseServeArgs, serve } from '../../src/cli.js';
import { RawCall } from '../helpers/raw-call.js';
import { RawSip, request } from '../helpers/raw-sip.js';
import { RawStream, streamRequest } from '../helpers/raw-stream.js';
import { sample } from '../helpers/prom.js';
import { waitFor } from '../helpers/wait.js';
import { freeTcpPort, freeUdpPort } from '../interop/helpers/procs.js';


test('with SIP worker threads, health, drain and metrics count the threads\' calls', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'callchart-workers-ops-'));
  const sipPort = await freeUdpPort();
  const args = ['--host', '127.0.0.1', '--ws-port', '0', '--sip-port', String(sipPort), '--sip-workers', '2'];
  const engine = await serve(parseServeArgs([...args, '--rtp-ports', '34600-34799', '--data-dir', dir, '--log-level', 'silent', '--log-format', 'json']));
  const calls: RawCall[] = [];
  const probe = await new RawSip().open();
  try {
    // A request handled in a worker shows in the main thread's /metrics.
    probe.send(request('OPTIONS', sipPort, probe.port, { 'Call-ID': 'ops-options@127.0.0.1' }), sipPort);
    assert.equal((await probe.response((r) => r.headers.get('Call-ID') === 'ops-options@127.0.0.1')).status, 200);
    assert.ok(sample(await engine.metrics(), 'callchart_sip_requests_total', { direction: 'in', method: 'OPTIONS' }) >= 1, 'worker SIP counters merged into /metrics');

    const call = await RawCall.invite(sipPort);
    calls.push(call);
    await call.answered();
    await waitFor(() => engine.health().calls.sip === 1, 'the worker\'s live call in /health');
    assert.equal(engine.health().calls.total, 1);
    assert.equal(sample(await engine.metrics(), 'callchart_calls_active', { transport: 'sip', direction: 'inbound' }), 1);

    let drained = false;
    const done = engine.drain().then(() => (drained = true));
    assert.equal(engine.health().status, 'draining');
    const late = await RawCall.invite(sipPort, '+15550002222');
    calls.push(late);
    const refused = await late.client.response((r) => r.status >= 200);
    assert.equal(refused.status, 503, 'a new INVITE to a draining worker is refused');
    assert.equal(drained, false, 'the drain waits for the call in the worker');
    assert.equal(engine.health().idle, false);

    await call.bye();
    await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error('drain did not end after the last call')), 5000))]);
    assert.equal(engine.health().idle, true);
    assert.equal(engine.health().calls.total, 0);

    engine.resume();
    assert.equal(engine.health().status, 'open');
    const again = await RawCall.invite(sipPort, '+15550003333');
    calls.push(again);
    await again.answered();
    await again.bye();
  } finally {
    probe.close();
    for (const c of calls) c.close();
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve --sip-workers 2 --sip-tcp-port: SIP over TCP is served through the worker threads', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'callchart-workers-tcp-'));
  const sipPort = await freeUdpPort();
  const tcpPort = await freeTcpPort();
  const args = ['--host', '127.0.0.1', '--ws-port', '0', '--sip-port', String(sipPort), '--sip-tcp-port', String(tcpPort), '--sip-workers', '2'];
  const engine = await serve(parseServeArgs([...args, '--rtp-ports', '34800-34999', '--data-dir', dir, '--log-level', 'silent', '--log-format', 'json']));
  const c = await RawStream.connect(tcpPort);
  try {
    // OPTIONS with Call-IDs for both threads, on one connection: each answered on it.
    for (let i = 0; i < 6; i++) {
      const id = `ops-tcp-${i}@127.0.0.1`;
      c.send(streamRequest('TCP', 'OPTIONS', tcpPort, c.port, { 'Call-ID': id }));
      const res = await c.response((r) => r.headers.get('Call-ID') === id);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('Via') ?? '', /^SIP\/2\.0\/TCP /);
    }
    const metrics = await engine.metrics();
    assert.ok(sample(metrics, 'callchart_sip_requests_total', { direction: 'in', method: 'OPTIONS' }) >= 6, 'the threads counted them');
    assert.equal(sample(metrics, 'callchart_sip_stream_connections', { transport: 'tcp' }), 1, "the router's connection in /metrics");
    assert.equal(sample(metrics, 'callchart_sip_stream_events_total', { transport: 'tcp', event: 'accepted' }), 1);
  } finally {
    c.close();
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

