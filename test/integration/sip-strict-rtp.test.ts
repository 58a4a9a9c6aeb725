// Strict RTP through a real SIP call: a raw SIP client calls a callchart engine that plays a tone
// into every call; plain UDP sockets on other loopback addresses play the caller's media, a NAT'ed
// caller and a stranger scanning RTP ports ("RTP bleed"). Both tests fail on fe89b32, where the
// first source to send was latched whatever the SDP said.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { createEngine, type Engine, type Call } from '../../src/index.js';
import { writeRtp, parseRtp } from '../../src/media/rtp.js';
import { ulawEncode } from '../../src/media/g711.js';
import { RawSip, request } from '../helpers/raw-sip.js';

const LO = '127.0.0.1';
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

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

async function engineWithTone(strictRtp?: 'strict' | 'probation'): Promise<{ engine: Engine; calls: Call[] }> {
  const calls: Call[] = [];
  const engine = createEngine({
    host: LO,
    wsPort: 0,
    sipPort: 0,
    rtpPorts: strictRtp === 'strict' ? '44450-44499' : '44400-44449',
    inboundCall: false,
    ...(strictRtp ? { sip: { strictRtp: { mode: strictRtp } } } : {}),
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
  await waitFor(() => (call.stats()?.packetsSent ?? 0) > 10, 'the tone is playing');
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
  assert.equal(call.stats()!.latch.state, 'unlatched');
  assert.equal(call.stats()!.foreignSource, 10);
  await caller.send(rtpPort, 2);
  await waitFor(() => caller.rtpIn() > 20, 'the tone at the caller');
  assert.equal(probeIn + stranger.rtpIn(), 0);
  assert.deepEqual(call.stats()!.latch.source, { address: LO, port: caller.port });
});

test('SIP re-INVITE to a NAT address: the stream follows after 4 packets in sequence, not at the first packet', async () => {
  const { engine, calls } = await engineWithTone('probation');
  const c = await new RawSip().open();
  cleanup.push(() => c.close());
  const caller = await media(LO, 0x1111);
  const { rtpPort, toTag } = await invite(c, engine.sipPort!, 'reinvite@x', sdp(LO, caller.port, 1));
  const call = calls[0]!;
  await caller.send(rtpPort, 2);
  await waitFor(() => caller.rtpIn() > 5, 'the tone at the caller');
  // re-INVITE: the caller now announces an address it will not send from (a private one behind NAT,
  // here a silent socket), and its media comes from its public address.
  const announced = await media(LO, 0);
  const natted = await media('127.0.0.7', 0x2222);
  await invite(c, engine.sipPort!, 'reinvite@x', sdp(LO, announced.port, 2), { toTag, cseq: 2 });
  await waitFor(() => call.stats()!.remote?.port === announced.port, 'the re-INVITE applied');
  await natted.send(rtpPort, 3);
  await sleep(40);
  assert.equal(natted.rtpIn(), 0, 'nothing to a source in probation');
  assert.equal(call.stats()!.latch.state, 'unlatched');
  await natted.send(rtpPort, 1);
  await waitFor(() => natted.rtpIn() > 5, 'the tone follows the NAT source');
  assert.deepEqual(call.stats()!.latch.source, { address: '127.0.0.7', port: natted.port });
  const callerHad = caller.rtpIn();
  await caller.send(rtpPort, 3); // the old address is a stranger now
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
  assert.equal(stranger.rtpIn(), 0);
  assert.equal(call.stats()!.latch.mode, 'strict');
  assert.equal(call.stats()!.foreignSource, 20);
});
