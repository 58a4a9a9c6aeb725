// Strict RTP on real sockets (loopback): who may feed a call's RtpSession and who hears it.
// Peers are plain dgram sockets on other loopback addresses (127.0.0.5, .7, .9: all of 127/8 is
// this host on Linux), so "another host" is a different source address, as on a real network.
// Every test here fails on the first-source-wins latching callchart had before (fe89b32).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { RtpSession, type RtpSessionOptions } from '../../src/media/rtp/session.js';
import { PortAllocator } from '../../src/media/rtp/ports.js';
import { writeRtp, parseRtp } from '../../src/media/codecs/rtp.js';
import { parseRtcpCompound, buildRtcpCompound } from '../../src/media/codecs/rtcp.js';
import { ulawEncode } from '../../src/media/codecs/g711.js';
import { sleep, waitFor } from '../helpers/wait.js';

const LO = '127.0.0.1';
const allocator = new PortAllocator({ range: '44300-44399', host: LO });
const open: Array<{ close(): unknown }> = [];
after(async () => {
  for (const o of open.splice(0)) await o.close();
});

async function session(opts: Partial<RtpSessionOptions> = {}): Promise<RtpSession> {
  const s = await RtpSession.create({ allocator, timeoutMs: 0, rtcpIntervalMs: 60_000, ...opts });
  open.push(s);
  return s;
}


/** A peer: one UDP socket that counts the RTP (or RTCP) it receives and sends RTP streams. */
class Peer {
  readonly sock = dgram.createSocket('udp4');
  rtpIn = 0;
  datagrams: Buffer[] = [];
  seq = 1000;
  ts = 0;
  constructor(readonly host: string, readonly ssrc: number) {}
  async bind(port = 0): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.sock.once('error', reject);
      this.sock.bind(port, this.host, () => {
        this.sock.off('error', reject);
        resolve();
      });
    });
    this.sock.on('message', (msg) => {
      this.datagrams.push(msg);
      if (parseRtp(msg)) this.rtpIn++;
    });
    open.push({ close: () => new Promise<void>((r) => this.sock.close(() => r())) });
    return this;
  }
  get port(): number {
    return this.sock.address().port;
  }
  /** One RTP packet continuing this peer's stream (or with the sequence number given). */
  packet(to: number, seq = this.seq): void {
    const pkt = writeRtp({ marker: false, payloadType: 0, sequenceNumber: seq & 0xffff, timestamp: this.ts, ssrc: this.ssrc }, ulawEncode(new Int16Array(160)));
    this.sock.send(pkt, to, LO);
    this.seq = (seq + 1) & 0xffff;
    this.ts = (this.ts + 160) >>> 0;
  }
  /** `n` packets of a stream, paced as a stream is (20 ms). */
  async stream(to: number, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      this.packet(to);
      await sleep(20);
    }
  }
}

/** The session under test plays audio all along (one frame per 10 ms), as a call playing a prompt does. */
function playing(s: RtpSession): { stop(): void } {
  const frame = new Int16Array(160).fill(1000);
  const t = setInterval(() => s.send(frame), 10);
  open.push({ close: () => clearInterval(t) });
  return { stop: () => clearInterval(t) };
}

test('probation (default): a stranger probing first gets no audio; the caller gets it once it sends from its SDP address', async () => {
  const s = await session();
  const caller = await new Peer(LO, 0x1111).bind();
  const stranger = await new Peer('127.0.0.5', 0x6666).bind();
  s.setRemote(LO, caller.port);
  let heardFromStranger = 0;
  s.on('audio', () => heardFromStranger++);
  playing(s);
  // An RTP-bleed scan: probes to the port, nothing a stream would send (scattered sequence numbers).
  for (const seq of [7, 300, 9000, 12, 40000, 5]) {
    stranger.packet(s.localPort, seq);
    await sleep(20);
  }
  await waitFor(() => s.stats().foreignSource === 6, 'the probes counted as foreign');
  assert.equal(heardFromStranger, 0, 'nothing the stranger sent reached the call');
  assert.equal(s.stats().latch.state, 'unlatched');
  const before = caller.rtpIn;
  await caller.stream(s.localPort, 3);
  await waitFor(() => caller.rtpIn > before + 10, 'audio at the caller');
  assert.equal(stranger.rtpIn, 0, 'the stranger heard nothing');
  assert.deepEqual(s.stats().latch.source, { address: LO, port: caller.port });
  assert.equal(s.stats().latch.state, 'locked');
  assert.equal(heardFromStranger, 3, "only the caller's packets were heard");
});

for (const connect of [true, false]) test(`strict${connect ? '' : ', connect: false'}: a stranger sending a well-formed stream first gets no audio, ever; the caller does`, async () => {
  const s = await session({ strictRtp: { mode: 'strict', connect } });
  const caller = await new Peer(LO, 0x1111).bind();
  const stranger = await new Peer('127.0.0.5', 0x6666).bind();
  s.setRemote(LO, caller.port);
  playing(s);
  await stranger.stream(s.localPort, 8);
  await waitFor(() => s.stats().foreignSource === 8, 'the stream counted as foreign');
  assert.equal(stranger.rtpIn, 0);
  assert.equal(s.isLatched, false);
  await caller.stream(s.localPort, 2);
  assert.equal(s.stats().connected, connect, 'the socket connected to the caller once it latched');
  await stranger.stream(s.localPort, 8);
  if (connect) {
    // The kernel refuses the stranger now: the latch never sees (nor counts) its datagrams.
    await sleep(40);
    assert.equal(s.stats().foreignSource, 8);
  } else {
    await waitFor(() => s.stats().foreignSource === 16, 'the second stream counted as foreign');
  }
  assert.equal(stranger.rtpIn, 0, 'the stranger heard nothing');
  assert.ok(caller.rtpIn > 0);
  assert.deepEqual(s.remoteEndpoint, { address: LO, port: caller.port });
});

test('probation: a stranger whose stream passes probation before the caller speaks loses the call the moment the caller sends', async () => {
  // The limit of NAT latching, as in Asterisk: a well-formed stream from elsewhere cannot be told
  // from a caller behind NAT while the SDP address is silent. The SDP address wins at once.
  const s = await session();
  const caller = await new Peer(LO, 0x1111).bind();
  const stranger = await new Peer('127.0.0.5', 0x6666).bind();
  s.setRemote(LO, caller.port);
  playing(s);
  await stranger.stream(s.localPort, 5);
  await waitFor(() => s.remoteEndpoint?.address === '127.0.0.5', 'the stranger latched after probation');
  caller.packet(s.localPort);
  await waitFor(() => s.remoteEndpoint?.port === caller.port, 'the caller took over');
  await sleep(50); // audio sent before the switch is still on its way to the stranger
  const strangerHad = stranger.rtpIn;
  // The stranger keeps streaming, faster than the caller too: it never gets the call back.
  const callerStream = caller.stream(s.localPort, 25);
  for (let i = 0; i < 60; i++) {
    stranger.packet(s.localPort);
    await sleep(8);
  }
  await callerStream;
  assert.equal(stranger.rtpIn, strangerHad, 'nothing more reached the stranger');
  assert.deepEqual(s.stats().latch.source, { address: LO, port: caller.port });
  assert.equal(s.stats().latch.state, 'locked');
});

test('a caller behind NAT (its SDP address never sends) is latched after 4 packets in sequence, not before', async () => {
  const s = await session();
  const sdpOnly = await new Peer(LO, 0).bind(); // the address the SDP names: never sends
  const nat = await new Peer('127.0.0.7', 0x2222).bind();
  s.setRemote(LO, sdpOnly.port);
  let heard = 0;
  s.on('audio', () => heard++);
  playing(s);
  await nat.stream(s.localPort, 3);
  await sleep(40);
  assert.equal(s.isLatched, false, 'three packets are not enough');
  assert.equal(heard, 0, 'probation packets are not played into the call');
  assert.equal(nat.rtpIn, 0, 'nor is the call sent to a source in probation');
  await nat.stream(s.localPort, 1);
  await waitFor(() => s.isLatched, 'latched on the 4th packet');
  assert.deepEqual(s.stats().latch.source, { address: '127.0.0.7', port: nat.port });
  await waitFor(() => nat.rtpIn > 5, 'audio reaches the NAT address');
  assert.equal(heard, 1, 'the 4th packet is the first one heard');
  assert.equal(s.stats().foreignSource, 3);
});

test('a single spoofed packet cannot move a latched stream, not even right after a re-INVITE', async () => {
  const s = await session();
  const sdpOnly = await new Peer(LO, 0).bind();
  const nat = await new Peer('127.0.0.7', 0x2222).bind();
  const spoof = await new Peer('127.0.0.5', 0x2222).bind(); // knows the SSRC and the next sequence number
  s.setRemote(LO, sdpOnly.port);
  playing(s);
  await nat.stream(s.localPort, 5);
  await waitFor(() => s.isLatched, 'NAT source latched');
  spoof.seq = nat.seq;
  spoof.packet(s.localPort);
  // A re-INVITE (session refresh, same SDP address) reopens learning; one packet still moves nothing.
  s.setRemote(LO, sdpOnly.port);
  spoof.packet(s.localPort, nat.seq + 1);
  await waitFor(() => s.stats().foreignSource === 3 + 2, 'both spoofed packets dropped (after 3 in probation)');
  assert.deepEqual(s.stats().latch.source, { address: '127.0.0.7', port: nat.port });
  await sleep(50);
  assert.equal(spoof.rtpIn, 0, 'the spoofer heard nothing');
  // The real source goes on after the refresh: no probation again for it.
  const before = nat.rtpIn;
  await nat.stream(s.localPort, 2);
  await waitFor(() => nat.rtpIn > before + 5, 'audio still at the NAT source');
});

test('after a re-INVITE to a new address the stream follows: the new SDP address at once, a NAT source after probation', async () => {
  const s = await session();
  const first = await new Peer(LO, 0x1111).bind();
  s.setRemote(LO, first.port);
  playing(s);
  await first.stream(s.localPort, 2);
  await waitFor(() => first.rtpIn > 0, 'audio at the first address');
  // re-INVITE: the caller moved to a new address it announces, and sends from there.
  const moved = await new Peer('127.0.0.9', 0x3333).bind();
  s.setRemote('127.0.0.9', moved.port);
  assert.equal(s.isLatched, false);
  moved.packet(s.localPort);
  await waitFor(() => s.isLatched, 'the new SDP address latched at once');
  assert.deepEqual(s.remoteEndpoint, { address: '127.0.0.9', port: moved.port });
  await waitFor(() => s.stats().connected, 'the socket connected to the new address');
  first.packet(s.localPort); // the old address is a stranger now: the kernel refuses it
  await sleep(40);
  assert.equal(s.stats().foreignSource, 0);
  assert.deepEqual(s.remoteEndpoint, { address: '127.0.0.9', port: moved.port });
  // re-INVITE again: now behind NAT (the announced address never sends; media comes from elsewhere).
  const announced = await new Peer(LO, 0).bind();
  const natted = await new Peer('127.0.0.7', 0x4444).bind();
  s.setRemote(LO, announced.port);
  assert.equal(s.stats().connected, false, 'a new SDP address disconnects the socket at once');
  await natted.stream(s.localPort, 3);
  await sleep(40);
  assert.equal(s.isLatched, false, 'not after 3 packets');
  assert.equal(natted.rtpIn, 0);
  await natted.stream(s.localPort, 1);
  await waitFor(() => s.remoteEndpoint?.address === '127.0.0.7', 'NAT source latched after probation');
  await waitFor(() => natted.rtpIn > 0, 'audio follows the stream');
});

test('RTCP goes nowhere until the peer has shown its address; RTCP from strangers is dropped, a BYE from them ignored', async () => {
  const s = await session({ rtcpIntervalMs: 40 });
  // The SDP names a "victim": a host that never asked for this call's RTCP and sends nothing.
  const victimRtp = await new Peer('127.0.0.5', 0).bind();
  const victimRtcp = await new Peer('127.0.0.5', 0).bind(victimRtp.port + 1).catch(() => null);
  assert.ok(victimRtcp, 'the port above the victim RTP port is free');
  s.setRemote('127.0.0.5', victimRtp.port);
  const frame = new Int16Array(160);
  for (let i = 0; i < 3; i++) s.send(frame); // a sender: it owes reports (RFC 3550 §6.4)
  await sleep(300); // several RTCP intervals (20-60 ms each)
  assert.equal(victimRtcp.datagrams.length, 0, 'no RTCP to the bare SDP address');
  assert.equal(s.stats().latch.rtcp, null);
  // A stranger's RTCP BYE is not taken for the peer's.
  const stranger = await new Peer('127.0.0.6', 0x6666).bind();
  let byes = 0;
  s.on('bye', () => byes++);
  stranger.sock.send(buildRtcpCompound([{ type: 'RR', ssrc: 0x6666, reports: [] }, { type: 'BYE', ssrcs: [0x6666] }]), s.localRtcpPort, LO);
  await waitFor(() => s.stats().latch.foreignRtcp === 1, 'stranger RTCP dropped');
  assert.equal(byes, 0);
  assert.equal(s.stats().latch.rtcp, null);
  // The peer shows itself: RTP from the SDP address. Reports now go to its RTCP port, and only there.
  await victimRtp.stream(s.localPort, 1);
  await waitFor(() => victimRtcp.datagrams.length > 0, 'RTCP at the shown address');
  const first = parseRtcpCompound(victimRtcp.datagrams[0]!)?.[0];
  assert.ok(first && (first.type === 'SR' || first.type === 'RR') && first.ssrc === s.ssrc, 'a report from this session');
  assert.equal(stranger.datagrams.length, 0);
  assert.deepEqual(s.stats().latch.rtcp, { address: '127.0.0.5', port: victimRtp.port + 1 });
});

test('RTCP from the latched media host carrying the stream SSRC latches RTCP (NAT); with another SSRC it does not', async () => {
  const s = await session();
  const sdpOnly = await new Peer(LO, 0).bind();
  // A NAT'ed peer: RTP from one port, its RTCP from an unrelated one; and the port above its RTP port.
  let nat: Peer | undefined;
  let natPlus1: Peer | undefined;
  for (let i = 0; i < 5 && !natPlus1; i++) {
    nat = await new Peer('127.0.0.7', 0x2222).bind();
    natPlus1 = (await new Peer('127.0.0.7', 0).bind(nat.port + 1).catch(() => undefined)) ?? undefined;
  }
  assert.ok(nat && natPlus1, 'two adjacent ports on 127.0.0.7');
  const natRtcp = await new Peer('127.0.0.7', 0).bind();
  s.setRemote(LO, sdpOnly.port);
  await nat.stream(s.localPort, 4);
  await waitFor(() => s.isLatched, 'NAT source latched');
  // RTCP claiming another SSRC from the media host: not the peer's. Reports go to RTP port + 1 on
  // the latched host (the host is shown; the SDP's is not).
  natRtcp.sock.send(buildRtcpCompound([{ type: 'RR', ssrc: 0x9999, reports: [] }]), s.localRtcpPort, LO);
  await sleep(100);
  await s.sendRtcp([]);
  await waitFor(() => natPlus1!.datagrams.length === 1, 'report at RTP port + 1');
  assert.equal(natRtcp.datagrams.length, 0, 'not where the wrong-SSRC RTCP came from');
  // The stream's own SSRC: RTCP latches to where the peer sends it from.
  natRtcp.sock.send(buildRtcpCompound([{ type: 'RR', ssrc: 0x2222, reports: [] }]), s.localRtcpPort, LO);
  await waitFor(() => s.stats().latch.rtcp?.port === natRtcp.port, 'RTCP latched');
  await s.sendRtcp([]);
  await waitFor(() => natRtcp.datagrams.length === 1, 'report at the peer');
  assert.equal(s.stats().latch.foreignRtcp, 1);
});

test('an SDP address that is no unicast IP, or m=audio 65535 (RTCP port 65536), is refused or sends no RTCP: never a throw', async () => {
  const s = await session({ rtcpIntervalMs: 20 });
  for (const [addr, port] of [['0.0.0.0', 4000], ['224.0.0.1', 4000], ['255.255.255.255', 4000], ['example.com', 4000], ['::1', 4000], [LO, 0], [LO, 70000]] as const) {
    assert.equal(s.setRemote(addr, port), false, `${addr}:${port} refused`);
  }
  assert.equal(s.remoteEndpoint, null);
  assert.equal(s.send(new Int16Array(160)), false, 'nothing to send to');
  // A peer on port 65535 that sends from there: latched; RTCP would go to 65536 and is not sent.
  const top = await new Peer(LO, 0x5555).bind(65535).catch(() => null);
  if (!top) return; // port 65535 busy on this host: the refusals above are the test
  assert.equal(s.setRemote(LO, 65535), true);
  await top.stream(s.localPort, 1);
  await waitFor(() => s.isLatched, 'latched to the SDP address');
  assert.equal(s.stats().latch.rtcp, null);
  await sleep(150); // several RTCP intervals: a throw in the timer would fail this test
  await s.sendRtcp([]);
});
