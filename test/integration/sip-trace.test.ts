// --sip-trace, --hep and the per-call info lines, end to end over loopback: a raw SIP client places
// a call (INVITE, 200, ACK, BYE) to an engine whose transport is traced into a pino log and a HEP
// exporter aimed at a UDP socket of ours acting as the Homer collector.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createEngine, type Engine } from '../../src/index.js';
import { combineTraceHooks, sipTraceLogger } from '../../src/logging/sip-trace.js';
import { HepExporter } from '../../src/logging/hep-exporter.js';
import { decodeHep3 } from '../../src/logging/hep.js';
import { RawCall } from '../helpers/raw-call.js';

const closers: Array<() => unknown> = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

type Line = Record<string, unknown> & { msg: string };

test('every SIP message is traced with its Call-ID and exported as HEP v3; a call logs offered, answered, ended', { timeout: 30_000 }, async () => {
  const lines: Line[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l) as Line);
        cb();
      },
    }),
  );

  const collector = dgram.createSocket('udp4');
  const hepPackets: Buffer[] = [];
  collector.on('message', (m) => hepPackets.push(m));
  await new Promise<void>((r) => collector.bind(0, '127.0.0.1', () => r()));
  closers.push(() => new Promise<void>((r) => collector.close(() => r())));
  const hep = new HepExporter({ host: '127.0.0.1', port: collector.address().port, captureId: 77, logger });
  closers.push(() => hep.close());

  const engine: Engine = createEngine({
    host: '127.0.0.1',
    wsPort: false,
    sipPort: 0,
    rtpPorts: '47000-47099',
    inboundCall: false,
    logger,
    onIncomingCall: () => ({ action: 'accept' }),
    sip: { trace: combineTraceHooks(sipTraceLogger(logger), hep.hook) },
  });
  await engine.listen();
  closers.push(() => engine.close());
  const sipPort = engine.sipPort!;

  const call = await RawCall.invite(sipPort);
  closers.push(() => call.close());
  await call.answered();
  await call.bye();
  const deadline = Date.now() + 5000;
  while (!lines.some((l) => l.msg === 'call ended') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

  // The trace: INVITE in, 200 out, ACK in, BYE in, its 200 out (a 100/180 may come too), all one Call-ID.
  const trace = lines.filter((l) => l.component === 'sip-trace');
  const summary = trace.map((l) => `${String(l.dir)} ${(l.sip as string).split('\r\n')[0]!.replace(/ sip:\S+/, '')}`);
  for (const want of ['in INVITE SIP/2.0', 'out SIP/2.0 200 OK', 'in ACK SIP/2.0', 'in BYE SIP/2.0']) assert.ok(summary.includes(want), `${want} in ${summary.join(' | ')}`);
  assert.ok(trace.every((l) => l.callId === call.sipCallId), 'Call-ID on every trace line');
  const clientAddr = `127.0.0.1:${call.client.port}`;
  assert.ok(trace.every((l) => l.remote === clientAddr && l.local === `127.0.0.1:${sipPort}`));
  const invite = trace.find((l) => l.dir === 'in' && String(l.sip).startsWith('INVITE'))!;
  assert.match(String(invite.sip), /\r\nm=audio 40100 RTP\/AVP 0\r?\n/, 'the whole message, body included');

  // HEP: one datagram per traced message, decoding to the same bytes and the right direction.
  while (hepPackets.length < trace.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(hepPackets.length, trace.length);
  const decoded = hepPackets.map((p) => {
    const d = decodeHep3(p);
    assert.ok(d.ok, d.ok ? '' : d.reason);
    return d.message;
  });
  for (const [i, m] of decoded.entries()) {
    const l = trace[i]!;
    assert.equal(m.payload.toString('utf8'), l.sip);
    assert.equal(m.captureId, 77);
    assert.equal(m.protoType, 1);
    assert.equal(m.correlationId, call.sipCallId);
    const [src, dst] = l.dir === 'in' ? [clientAddr, `127.0.0.1:${sipPort}`] : [`127.0.0.1:${sipPort}`, clientAddr];
    assert.equal(`${m.srcIp}:${m.srcPort}`, src);
    assert.equal(`${m.dstIp}:${m.dstPort}`, dst);
    assert.ok(Math.abs(m.timeMs - Date.now()) < 30_000);
  }

  // The call's own lines: offered, answered, ended (reason, code, duration, RTP, MOS), with both ids.
  const callLines = lines.filter((l) => l.kind === 'call' && ['call offered', 'call answered', 'call ended'].includes(l.msg));
  assert.deepEqual(callLines.map((l) => l.msg), ['call offered', 'call answered', 'call ended']);
  for (const l of callLines) {
    assert.equal(l.sipCallId, call.sipCallId);
    assert.equal(typeof l.callId, 'string');
  }
  assert.match(String(callLines[0]!.from), /\+15550001111/);
  assert.equal(typeof callLines[1]!.setupMs, 'number');
  const ended = callLines[2]!;
  assert.equal(ended.reason, 'remote-hangup');
  assert.equal(typeof ended.durationMs, 'number');
  const rtp = ended.rtp as Record<string, unknown>;
  assert.equal(typeof rtp.packetsSent, 'number');
  assert.equal(typeof rtp.packetsReceived, 'number');
  assert.equal(typeof ended.mos, 'number');

  // A request the parser refuses: still traced, and the rejection line names its Call-ID.
  call.client.send(`OPTIONS sip:x@127.0.0.1 SIP/2.0\nCall-ID: broken-1@h\nVia: SIP/2.0/UDP 127.0.0.1:${call.client.port};branch=z9hG4bK-b1\nCSeq: nope\n\n`, sipPort);
  const until = Date.now() + 3000;
  while (!lines.some((l) => l.msg === 'rejected malformed request') && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  const rejected = lines.find((l) => l.msg === 'rejected malformed request');
  assert.ok(rejected, 'the malformed request was rejected');
  assert.equal(rejected.callId, 'broken-1@h');
  assert.ok(lines.some((l) => l.component === 'sip-trace' && l.dir === 'in' && l.callId === 'broken-1@h'));
});
