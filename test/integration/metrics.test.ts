// Prometheus metrics over real loopback sockets: raw SIP calls (test/helpers/raw-call.ts) and an
// engine-to-engine call with RTP, then GET /metrics is read as Prometheus would read it and the
// counters are checked against what the test did.
import { test, after } from 'node:test';
import net from 'node:net';
import assert from 'node:assert/strict';
import type { Engine, Call } from '../../src/index.js';
import { RawCall } from '../helpers/raw-call.js';
import { RawSip, request } from '../helpers/raw-sip.js';
import { sample } from '../helpers/prom.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';

const loopback = loopbackEngines(36400);
const start = loopback.start;
after(() => loopback.closeAll());

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

const until = async (cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('3 raw SIP calls answered and hung up, 1 rejected: /metrics counts calls, setup times, SIP messages and actors', async () => {
  let n = 0;
  const e = await start({ onIncomingCall: () => (++n === 4 ? { action: 'reject', code: 486 } : { action: 'accept' }) });
  const port = e.sipPort!;
  for (let i = 0; i < 3; i++) {
    const c = await RawCall.invite(port);
    await c.answered();
    await c.bye();
    c.close();
  }
  const r = await new RawSip().open();
  r.send(request('INVITE', port, r.port, { 'Call-ID': 'metrics-reject@x' }), port);
  assert.equal((await r.response((x) => x.status >= 200)).status, 486);
  // A 2xx to an INVITE the engine never sent (a foreign From tag): dropped unanswered.
  const stray = [
    'SIP/2.0 200 OK',
    `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKnotours`,
    'From: <sip:alice@127.0.0.1>;tag=foreign',
    'To: <sip:bob@127.0.0.1>;tag=b1',
    'Call-ID: metrics-stray@x',
    'CSeq: 1 INVITE',
    `Contact: <sip:bob@127.0.0.1:${r.port}>`,
    'Content-Length: 0',
  ];
  r.send(`${stray.join('\n')}\n\n`, port);
  await until(() => e.sip!.stats.stray2xxDropped === 1);
  r.close();
  await until(() => e.calls.size === 0);

  const text = await scrape(e.wsPort);
  const sip = { transport: 'sip', direction: 'inbound' };
  assert.equal(sample(text, 'callchart_calls_total', { ...sip, reason: 'remote-hangup' }), 3, text);
  assert.equal(sample(text, 'callchart_calls_total', { ...sip, reason: 'rejected' }), 1);
  assert.equal(sample(text, 'callchart_calls_active', sip), 0);
  assert.equal(sample(text, 'callchart_call_setup_seconds_count', sip), 3);
  assert.ok(sample(text, 'callchart_call_setup_seconds_sum', sip) < 3);
  assert.equal(sample(text, 'callchart_call_duration_seconds_count', sip), 3);
  assert.equal(sample(text, 'callchart_sip_requests_total', { direction: 'in', method: 'INVITE' }), 4);
  assert.equal(sample(text, 'callchart_sip_requests_total', { direction: 'in', method: 'BYE' }), 3);
  // The raw client ACKs each 2xx; it never ACKs the 486 (so the 486 may be retransmitted).
  assert.equal(sample(text, 'callchart_sip_requests_total', { direction: 'in', method: 'ACK' }), 3);
  // 200 to each INVITE and each BYE.
  assert.equal(sample(text, 'callchart_sip_responses_total', { direction: 'out', class: '2xx' }), 6);
  assert.ok(sample(text, 'callchart_sip_responses_total', { direction: 'out', class: '4xx' }) >= 1);
  // Every call was answered or refused in its INVITE's step: no 180 went ahead of the final answer.
  assert.equal(sample(text, 'callchart_sip_responses_total', { direction: 'out', class: '1xx' }), 0);
  assert.equal(sample(text, 'callchart_sip_transactions_total', { role: 'server' }), 7);
  assert.equal(sample(text, 'callchart_sip_stray_2xx_dropped_total'), 1);
  // (Its dialogs are counted once a forgotten INVITE of ours is answered: sip-forking-late-2xx.test.ts.)
  assert.match(text, /^# TYPE callchart_sip_forgotten_2xx_ended_total counter$/m);
  assert.equal(sample(text, 'callchart_sip_forgotten_2xx_ended_total'), 0);
  assert.equal(sample(text, 'callchart_actors_spawned_total', { kind: 'call' }), 4);
  assert.equal(sample(text, 'callchart_actors_live', { kind: 'call' }), 0);
  // prom-client's process metrics are there too.
  assert.match(text, /^nodejs_eventloop_lag_seconds /m);
  assert.match(text, /^# TYPE nodejs_gc_duration_seconds histogram/m);
  // engine.metrics() is the same exposition.
  assert.equal(sample(await e.metrics(), 'callchart_calls_total', { ...sip, reason: 'remote-hangup' }), 3);
});

test('a live call shows as active; a call over maxCalls is refused and counted', async () => {
  const e = await start({ maxCalls: 1, onIncomingCall: () => ({ action: 'accept' }) });
  const port = e.sipPort!;
  const c = await RawCall.invite(port);
  await c.answered();
  let text = await scrape(e.wsPort);
  assert.equal(sample(text, 'callchart_calls_active', { transport: 'sip', direction: 'inbound' }), 1);
  assert.equal(sample(text, 'callchart_actors_live', { kind: 'call' }), 1);
  const r = await new RawSip().open();
  r.send(request('INVITE', port, r.port, { 'Call-ID': 'metrics-busy@x' }), port);
  assert.equal((await r.response((x) => x.status >= 200)).status, 503);
  r.close();
  text = await scrape(e.wsPort);
  assert.equal(sample(text, 'callchart_sip_refused_total', { reason: 'max-calls' }), 1);
  await c.bye();
  c.close();
});

test('an engine-to-engine call with RTP: packets, jitter, loss and MOS histograms at call end', async () => {
  const b = await start({
    onIncomingCall: (call) => {
      call.play({ kind: 'tone', frequencies: [440], durationMs: 600 });
      return { action: 'accept' };
    },
  });
  const a = await start();
  const call: Call = await a.call(`sip:tone@127.0.0.1:${b.sipPort}`);
  await until(() => call.isActive, 5000);
  await new Promise((r) => setTimeout(r, 700));
  call.hangup();
  await call.waitForEnd();
  await until(() => b.calls.size === 0);
  const text = await scrape(a.wsPort);
  assert.equal(sample(text, 'callchart_calls_total', { transport: 'sip', direction: 'outbound', reason: 'local-hangup' }), 1);
  assert.ok(sample(text, 'callchart_rtp_packets_total', { direction: 'received' }) >= 20, text);
  assert.equal(sample(text, 'callchart_rtp_mos_count'), 1);
  assert.ok(sample(text, 'callchart_rtp_mos_sum') > 4, 'a clean loopback call scores above 4');
  assert.equal(sample(text, 'callchart_rtp_jitter_ms_count'), 1);
  assert.equal(sample(text, 'callchart_rtp_loss_percent_count'), 1);
  assert.equal(sample(text, 'callchart_rtp_packets_lost_total'), 0);
  assert.equal(sample(text, 'callchart_sip_requests_total', { direction: 'out', method: 'INVITE' }), 1);
  assert.equal(sample(text, 'callchart_sip_transactions_total', { role: 'client' }), 2); // INVITE, BYE
});

test('two engines in one process keep separate registries; metricsPort serves /metrics alone', async () => {
  const a = await start({ metricsPort: 0, onIncomingCall: () => ({ action: 'accept' }) });
  const b = await start();
  const c = await RawCall.invite(a.sipPort!);
  await c.answered();
  await c.bye();
  c.close();
  await until(() => a.calls.size === 0);
  assert.ok(a.metricsPort && a.metricsPort !== a.wsPort);
  const viaPort = await scrape(a.metricsPort);
  assert.equal(sample(viaPort, 'callchart_calls_total', { transport: 'sip', direction: 'inbound', reason: 'remote-hangup' }), 1);
  assert.equal(sample(await scrape(b.wsPort), 'callchart_calls_total', { transport: 'sip', direction: 'inbound', reason: 'remote-hangup' }), 0);
  assert.equal((await fetch(`http://127.0.0.1:${a.metricsPort}/rooms`)).status, 404);
  assert.notEqual(a.metricsRegistry, b.metricsRegistry);
});

test('metrics: false leaves /metrics 404 and engine.metrics() rejects', async () => {
  const e = await start({ metrics: false });
  assert.equal((await fetch(`http://127.0.0.1:${e.wsPort}/metrics`)).status, 404);
  await assert.rejects(e.metrics(), /metrics are off/);
});

test('SIP over TCP: open connections and connection events by transport', async () => {
  const e = await start({ sip: { tcpPort: 0 } });
  assert.equal(sample(await scrape(e.wsPort), 'callchart_sip_stream_connections', { transport: 'tcp' }), 0);
  const sock = net.connect({ port: e.sipTcpPort!, host: '127.0.0.1' });
  await new Promise<void>((r) => sock.once('connect', () => r()));
  try {
    sock.write('\r\n\r\n'); // an RFC 5626 keep-alive ping
    await new Promise<void>((r) => sock.once('data', () => r()));
    const text = await scrape(e.wsPort);
    assert.equal(sample(text, 'callchart_sip_stream_connections', { transport: 'tcp' }), 1);
    assert.equal(sample(text, 'callchart_sip_stream_events_total', { transport: 'tcp', event: 'accepted' }), 1);
    assert.equal(sample(text, 'callchart_sip_stream_events_total', { transport: 'tcp', event: 'ping' }), 1);
  } finally {
    sock.destroy();
  }
});
