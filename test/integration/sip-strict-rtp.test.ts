// Strict RTP through a real SIP call: a raw SIP client calls a callchart engine that plays a tone
// into every call; plain UDP sockets on other loopback addresses play the caller's media, a NAT'ed
// caller and a stranger scanning RTP ports ("RTP bleed"). The first tests fail on fe89b32, where the
// first source to send was latched whatever the SDP said; the NAT-host tests below fail before
// natSources (b878efb), where any host's paced stream passed probation while the caller was silent.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { createEngine, type Engine, type Call } from '../../src/index.js';
import type { RtpLatchOptions } from '../../src/media/rtp/latch.js';
import { createResponse, serialize } from '../../src/sip/codec/message.js';
import { writeRtp, parseRtp } from '../../src/media/codecs/rtp.js';
import { ulawEncode } from '../../src/media/codecs/g711.js';
import { RawSip, request } from '../helpers/raw-sip.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { rtpStats } from '../helpers/call-stats.js';

const LO = '127.0.0.1';
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});


/** A UDP media endpoint: counts RTP received, sends a PCMU stream. */
async function media(host: string, ssrc: number): Promise<{ port: number; rtpIn: () => number; send: (to: number, n: number) => Promise<void> }> {
  const sock = dgram.createSocket('udp4');
  let rtpIn = 0;
  sock.on('message', (m) => {
    if (parseRtp(m)) rtpIn++;
  });
  await new Promise<void>((r) => sock.bind(0, host, () => r()));
  cleanup.push(() => new Promise<void>((r) => sock.close(() => r())));
  let seq = 100;
  const payload = ulawEncode(new Int16Array(160));
  return {
    port: sock.address().port,
    rtpIn: () => rtpIn,
    async send(to, n) {
      for (let i = 0; i < n; i++) {
        sock.send(writeRtp({ marker: false, payloadType: 0, sequenceNumber: seq, timestamp: seq * 160, ssrc }, payload), to, LO);
        seq++;
        await sleep(20);
      }
    },
  };
}

async function engineWithTone(strictRtp?: 'strict' | 'probation' | RtpLatchOptions, rtpPorts?: string): Promise<{ engine: Engine; calls: Call[] }> {
  const calls: Call[] = [];
  const latch = typeof strictRtp === 'string' ? { mode: strictRtp } : strictRtp;
  const engine = createEngine({
    host: LO,
    wsPort: 0,
    sipPort: 0,
    rtpPorts: rtpPorts ?? (strictRtp === 'strict' ? '44450-44499' : '44400-44449'),
    inboundCall: false,
    ...(latch ? { sip: { strictRtp: latch } } : {}),
    onIncomingCall: (call) => {
      calls.push(call);
      call.play({ kind: 'tone', frequencies: [440], durationMs: 20_000 });
      return { action: 'accept' };
    },
  });
  await engine.listen();
  cleanup.push(() => engine.close());
  return { engine, calls };
}

const sdp = (address: string, port: number, version: number) =>
  `v=0\no=raw 1 ${version} IN IP4 ${address}\ns=-\nc=IN IP4 ${address}\nt=0 0\nm=audio ${port} RTP/AVP 0\na=rtpmap:0 PCMU/8000\n`;

/** INVITE with our SDP; returns the engine's RTP port (from its answer) and what in-dialog requests need. */
async function invite(c: RawSip, sipPort: number, callId: string, body: string, dialog?: { toTag: string; cseq: number }) {
  const headers: Record<string, string> = { 'Content-Type': 'application/sdp', 'Call-ID': callId };
  if (dialog) {
    headers.To = `<sip:callchart@127.0.0.1:${sipPort}>;tag=${dialog.toTag}`;
    headers.CSeq = `${dialog.cseq} INVITE`;
  }
  c.send(request('INVITE', sipPort, c.port, headers, body), sipPort);
  const ok = await c.response((r) => r.status === 200 && r.headers.get('CSeq') === `${dialog?.cseq ?? 1} INVITE`);
  const toTag = /tag=([^;>\s]+)/.exec(ok.headers.get('To')!)![1]!;
  c.send(request('ACK', sipPort, c.port, { 'Call-ID': callId, CSeq: `${dialog?.cseq ?? 1} ACK`, To: `<sip:callchart@127.0.0.1:${sipPort}>;tag=${toTag}` }), sipPort);
  const rtpPort = Number(/m=audio (\d+)/.exec(ok.body.toString())![1]);
  return { toTag, rtpPort };
}

test('SIP call: a stranger scanning RTP ports first gets none of the call; the caller gets it from its first packet', async () => {
  const { engine, calls } = await engineWithTone();
  const c = await new RawSip().open();
  cleanup.push(() => c.close());
  const caller = await media(LO, 0x1111);
  const stranger = await media('127.0.0.5', 0x6666);
  const { rtpPort } = await invite(c, engine.sipPort!, 'bleed@x', sdp(LO, caller.port, 1));
  const call = calls[0]!;
  await waitFor(() => (call.stats()?.kind === 'rtp' ? rtpStats(call).packetsSent : 0) > 10, 'the tone is playing');
  // The scan: one probe per pass over the port range, sequence numbers from a global counter.
  const probe = dgram.createSocket('udp4');
  let probeIn = 0;
  probe.on('message', (m) => {
    if (parseRtp(m)) probeIn++;
  });
  await new Promise<void>((r) => probe.bind(0, '127.0.0.5', () => r()));
  cleanup.push(() => new Promise<void>((r) => probe.close(() => r())));
  for (let pass = 0; pass < 5; pass++) {
    probe.send(writeRtp({ marker: false, payloadType: 0, sequenceNumber: pass * 1000, timestamp: 0, ssrc: 0x6666 }, Buffer.alloc(160, 0xff)), rtpPort, LO);
    await stranger.send(rtpPort, 1); // and a second source of the same host, one packet at a time
    await sleep(30);
  }
  await sleep(50);
  assert.equal(probeIn + stranger.rtpIn(), 0, 'the stranger heard nothing');
  assert.equal(rtpStats(call).latch.state, 'unlatched');
  assert.equal(rtpStats(call).foreignSource, 10);
  await caller.send(rtpPort, 2);
  await waitFor(() => caller.rtpIn() > 20, 'the tone at the caller');
  assert.equal(probeIn + stranger.rtpIn(), 0);
  assert.deepEqual(rtpStats(call).latch.source, { address: LO, port: caller.port });
});

test('SIP re-INVITE to a NAT address: the stream follows the SIP host after 4 packets in sequence, not at the first packet', async () => {
  const { engine, calls } = await engineWithTone('probation');
  const c = await new RawSip().open();
  cleanup.push(() => c.close());
  const caller = await media(LO, 0x1111);
  const { rtpPort, toTag } = await invite(c, engine.sipPort!, 'reinvite@x', sdp(LO, caller.port, 1));
  const call = calls[0]!;
  await caller.send(rtpPort, 2);
  await waitFor(() => caller.rtpIn() > 5, 'the tone at the caller');
  // re-INVITE: the caller now announces an address it will not send from (a private one behind NAT,
  // here a silent socket on another host), and its media comes from its public address, the one its
  // SIP comes from.
  const announced = await media('127.0.0.7', 0);
  const natted = await media(LO, 0x2222);
  await invite(c, engine.sipPort!, 'reinvite@x', sdp('127.0.0.7', announced.port, 2), { toTag, cseq: 2 });
  await waitFor(() => rtpStats(call).remote?.port === announced.port, 'the re-INVITE applied');
  await natted.send(rtpPort, 3);
  await sleep(40);
  assert.equal(natted.rtpIn(), 0, 'nothing to a source in probation');
  assert.equal(rtpStats(call).latch.state, 'unlatched');
  await natted.send(rtpPort, 1);
  await waitFor(() => natted.rtpIn() > 5, 'the tone follows the NAT source');
  assert.deepEqual(rtpStats(call).latch.source, { address: LO, port: natted.port });
  const callerHad = caller.rtpIn();
  await caller.send(rtpPort, 3); // the old address is a stranger now (on the SIP host: probation applies)
  await sleep(60);
  assert.equal(caller.rtpIn(), callerHad, 'the old address does not get the call back (3 packets are no probation)');
});

test('SIP call in strict mode: a stranger with a well-formed stream gets nothing; the caller is heard', async () => {
  const { engine, calls } = await engineWithTone('strict');
  const c = await new RawSip().open();
  cleanup.push(() => c.close());
  const caller = await media(LO, 0x1111);
  const stranger = await media('127.0.0.5', 0x6666);
  const { rtpPort } = await invite(c, engine.sipPort!, 'strict@x', sdp(LO, caller.port, 1));
  const call = calls[0]!;
  await stranger.send(rtpPort, 10);
  await sleep(50);
  assert.equal(stranger.rtpIn(), 0);
  await caller.send(rtpPort, 2);
  await waitFor(() => caller.rtpIn() > 10, 'the tone at the caller');
  await stranger.send(rtpPort, 10);
  await sleep(40);
  assert.equal(stranger.rtpIn(), 0);
  assert.equal(rtpStats(call).latch.mode, 'strict');
  // Latched to the caller, the socket is connected to it: the kernel refuses the second stream.
  assert.equal(rtpStats(call).connected, true);
  assert.equal(rtpStats(call).foreignSource, 10);
});

// ---- NAT sources only from the caller's own hosts (natSources) ---------------------------------
// The caller's SIP comes from 127.0.0.1; its SDP names 127.0.0.6, which never sends (a private
// address behind NAT); its media comes from 127.0.0.1, its public address. A stranger on 127.0.0.9
// knows the port and sends a well-paced stream before the caller talks.
const PRIVATE = '127.0.0.6';
const STRANGER = '127.0.0.9';

test('SIP call behind NAT: a stranger\'s paced stream sent first gets nothing and is never latched; the caller, from its SIP host, is latched after probation', async () => {
  const { engine, calls } = await engineWithTone(undefined, '44500-44549');
  const c = await new RawSip().open();
  cleanup.push(() => c.close());
  const announced = await media(PRIVATE, 0);
  const stranger = await media(STRANGER, 0x6666);
  const caller = await media(LO, 0x1111);
  const { rtpPort } = await invite(c, engine.sipPort!, 'nat-host@x', sdp(PRIVATE, announced.port, 1));
  const call = calls[0]!;
  await waitFor(() => announced.rtpIn() > 5, 'the tone toward the SDP address');
  await stranger.send(rtpPort, 12);
  await sleep(40);
  assert.equal(stranger.rtpIn(), 0, 'the stranger heard nothing');
  let latch = rtpStats(call).latch;
  assert.equal(latch.state, 'unlatched');
  assert.equal(latch.offHostRtp, 12, 'dropped as from a host that is neither the SDP\'s nor the SIP\'s');
  assert.deepEqual(latch.signalling, [LO]);
  await caller.send(rtpPort, 3);
  await sleep(40);
  assert.equal(caller.rtpIn(), 0, 'nothing to a source in probation');
  await caller.send(rtpPort, 1);
  await waitFor(() => caller.rtpIn() > 5, 'the tone at the caller');
  // The stranger keeps streaming: still nothing, and the caller keeps the call.
  await stranger.send(rtpPort, 12);
  await sleep(40);
  assert.equal(stranger.rtpIn(), 0);
  latch = rtpStats(call).latch;
  assert.deepEqual(latch.source, { address: LO, port: caller.port });
  assert.equal(latch.moves, 1);
  assert.equal(latch.offHostRtp, 24);
});

test('SIP call behind NAT with natSources any: the stranger\'s paced stream is latched, as before (the documented trade-off)', async () => {
  const { engine, calls } = await engineWithTone({ natSources: 'any' }, '44550-44599');
  const c = await new RawSip().open();
  cleanup.push(() => c.close());
  const announced = await media(PRIVATE, 0);
  const stranger = await media(STRANGER, 0x6666);
  const { rtpPort } = await invite(c, engine.sipPort!, 'nat-any@x', sdp(PRIVATE, announced.port, 1));
  const call = calls[0]!;
  await stranger.send(rtpPort, 10);
  await waitFor(() => stranger.rtpIn() > 3, 'the tone at the stranger');
  const latch = rtpStats(call).latch;
  assert.equal(latch.natSources, 'any');
  assert.deepEqual(latch.source, { address: STRANGER, port: stranger.port });
  assert.equal(latch.offHostRtp, 0);
});

test('SIP call behind NAT: a host the dialog\'s requests come from may send the media (a re-INVITE from a new address)', async () => {
  const { engine, calls } = await engineWithTone(undefined, '44600-44649');
  const c = await new RawSip().open();
  cleanup.push(() => c.close());
  const announced = await media(PRIVATE, 0);
  const moved = await media('127.0.0.8', 0x2222);
  const { rtpPort, toTag } = await invite(c, engine.sipPort!, 'nat-moved@x', sdp(PRIVATE, announced.port, 1));
  const call = calls[0]!;
  await moved.send(rtpPort, 6);
  await sleep(40);
  assert.equal(moved.rtpIn(), 0, '127.0.0.8 is nobody yet');
  assert.equal(rtpStats(call).latch.offHostRtp, 6);
  // The phone's public address changes: its re-INVITE (same SDP) comes from 127.0.0.8.
  const c2 = await new RawSip().open('127.0.0.8');
  cleanup.push(() => c2.close());
  await invite(c2, engine.sipPort!, 'nat-moved@x', sdp(PRIVATE, announced.port, 2), { toTag, cseq: 2 });
  assert.deepEqual(rtpStats(call).latch.signalling, ['127.0.0.8', LO]);
  await moved.send(rtpPort, 4);
  await waitFor(() => moved.rtpIn() > 5, 'the tone at the new address');
  assert.deepEqual(rtpStats(call).latch.source, { address: '127.0.0.8', port: moved.port });
});

test('outbound SIP call to a callee behind NAT: a stranger\'s paced stream gets nothing; the callee\'s media from the host we called is latched', async () => {
  const engine = createEngine({ host: LO, wsPort: 0, sipPort: 0, rtpPorts: '44650-44699', inboundCall: false });
  await engine.listen();
  cleanup.push(() => engine.close());
  const uas = await new RawSip().open();
  cleanup.push(() => uas.close());
  const announced = await media(PRIVATE, 0);
  const stranger = await media(STRANGER, 0x6666);
  const callee = await media(LO, 0x3333);
  const call = await engine.call(`sip:bob@127.0.0.1:${uas.port}`);
  call.play({ kind: 'tone', frequencies: [440], durationMs: 20_000 });
  const inv = await uas.request((r) => r.method === 'INVITE');
  const rtpPort = Number(/m=audio (\d+)/.exec(inv.body.toString())![1]);
  const ok = createResponse(inv, 200, 'OK', {
    toTag: 'uas1',
    headers: [['Contact', `<sip:bob@127.0.0.1:${uas.port}>`]],
    body: sdp(PRIVATE, announced.port, 1).replace(/\n/g, '\r\n'),
    contentType: 'application/sdp',
  });
  uas.sock.send(serialize(ok), engine.sipPort!, LO);
  await uas.request((r) => r.method === 'ACK');
  await waitFor(() => announced.rtpIn() > 5, 'the tone toward the SDP address');
  await stranger.send(rtpPort, 12);
  await sleep(40);
  assert.equal(stranger.rtpIn(), 0, 'the stranger heard nothing');
  assert.equal(rtpStats(call).latch.state, 'unlatched');
  await callee.send(rtpPort, 4);
  await waitFor(() => callee.rtpIn() > 5, 'the tone at the callee');
  assert.deepEqual(rtpStats(call).latch.source, { address: LO, port: callee.port });
  assert.equal(stranger.rtpIn(), 0);
  assert.deepEqual(rtpStats(call).latch.signalling, [LO]);
});
