// The callee side of the outbound-call tests with early dialogs (forking, early media, early
// UPDATE as the caller): a raw SIP socket answers the engine's INVITE as one or more branches (To
// tags), each pointing RTP at a UDP socket of its own whose packets are counted.
import dgram from 'node:dgram';
import type { SipRequest } from '../../src/sip/codec/message.js';
import type { Call, Engine, EngineOptions } from '../../src/index.js';
import type { LoopbackEngines } from './loopback-engines.js';
import { RawSip } from './raw-sip.js';
import { sleep } from './wait.js';

const LO = '127.0.0.1';

/** A UDP socket standing for a branch's RTP port: the payload type and size of every RTP packet that arrives. */
export async function rtpSink(closers: Array<() => void>): Promise<{ port: number; pts: number[]; sizes: number[] }> {
  const sock = dgram.createSocket('udp4');
  const pts: number[] = [];
  const sizes: number[] = [];
  sock.on('message', (m) => {
    if (m.length >= 12 && m[0]! >> 6 === 2) pts.push(m[1]! & 0x7f), sizes.push(m.length);
  });
  await new Promise<void>((r) => sock.bind(0, LO, () => r()));
  closers.push(() => sock.close());
  return { port: sock.address().port, pts, sizes };
}

export type Sink = Awaited<ReturnType<typeof rtpSink>>;

const REASONS: Record<number, string> = { 180: 'Ringing', 200: 'OK', 481: 'Call/Transaction Does Not Exist', 487: 'Request Terminated' };

/** A response to the engine's INVITE from the branch `tag`; `rseq` makes it reliable (Require: 100rel). */
export function respond(sip: RawSip, engine: Engine, invite: SipRequest, status: number, tag: string, o: { body?: string; rseq?: number; headers?: string[] } = {}): void {
  const h = invite.headers;
  const body = o.body ?? '';
  const lines = [
    `SIP/2.0 ${status} ${REASONS[status] ?? 'Session Progress'}`,
    ...h.getAll('Via').map((v) => `Via: ${v}`),
    `From: ${h.get('From')}`,
    `To: ${h.get('To')};tag=${tag}`,
    `Call-ID: ${h.get('Call-ID')}`,
    `CSeq: ${h.get('CSeq')}`,
    `Contact: <sip:${tag}@${LO}:${sip.port}>`,
    ...(o.rseq !== undefined ? ['Require: 100rel', `RSeq: ${o.rseq}`] : []),
    ...(o.headers ?? []),
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body.replace(/\n/g, '\r\n'))}`,
  ];
  sip.send(`${lines.join('\n')}\n\n${body}`, engine.sipPort!);
}

/** A final response to a request the engine sent (PRACK, UPDATE, BYE), with an SDP `body` if given. */
export function reply(sip: RawSip, engine: Engine, req: SipRequest, status = 200, body = ''): void {
  const h = req.headers;
  const lines = [`SIP/2.0 ${status} ${REASONS[status] ?? 'Other'}`, ...h.getAll('Via').map((v) => `Via: ${v}`), `From: ${h.get('From')}`, `To: ${h.get('To')}`, `Call-ID: ${h.get('Call-ID')}`, `CSeq: ${h.get('CSeq')}`];
  if (body) lines.push('Content-Type: application/sdp');
  lines.push(`Content-Length: ${Buffer.byteLength(body.replace(/\n/g, '\r\n'))}`);
  sip.send(`${lines.join('\n')}\n\n${body}`, engine.sipPort!);
}

export const toTag = (r: SipRequest): string | undefined => /;tag=([^;>\s]+)/.exec(r.headers.get('To') ?? '')?.[1];

/** The branch's reliable 183 with its answer, and the engine's PRACK to it answered `prackStatus`. */
export async function early183(sip: RawSip, engine: Engine, invite: SipRequest, tag: string, body: string, o: { prackStatus?: number; rseq?: number; headers?: string[] } = {}): Promise<void> {
  respond(sip, engine, invite, 183, tag, { body, rseq: o.rseq ?? 1, ...(o.headers ? { headers: o.headers } : {}) });
  const prack = await sip.request((r) => r.method === 'PRACK' && toTag(r) === tag);
  reply(sip, engine, prack, o.prackStatus ?? 200);
}

/** We hang up the answered call; the peer answers our BYE. */
export async function hangUp(sip: RawSip, engine: Engine, call: Call): Promise<void> {
  call.hangup();
  reply(sip, engine, await sip.request((r) => r.method === 'BYE'));
}

/** 20 ms frames through the call's media leg (before the answer too): the payload types each sink got meanwhile. */
export async function sendFrames<K extends string>(call: Call, sinks: Record<K, { pts: number[] }>): Promise<Record<K, number[]>> {
  const entries = Object.entries(sinks) as Array<[K, { pts: number[] }]>;
  const before = entries.map(([, s]) => s.pts.length);
  const frame = new Int16Array(160);
  for (let i = 0; i < 5; i++) call.media!.write(frame);
  await sleep(200);
  return Object.fromEntries(entries.map(([k, s], i) => [k, s.pts.slice(before[i])])) as Record<K, number[]>;
}

/** The sizes of the RTP packets each sink got while sendFrames ran (SRTP adds its auth tag: 10 bytes for …_80, 4 for …_32). */
export async function sizesAt<K extends string>(call: Call, sinks: Record<K, Sink>): Promise<Record<K, number[]>> {
  const entries = Object.entries(sinks) as Array<[K, Sink]>;
  const before = entries.map(([, s]) => s.sizes.length);
  await sendFrames(call, sinks);
  return Object.fromEntries(entries.map(([k, s], i) => [k, s.sizes.slice(before[i])])) as Record<K, number[]>;
}

/** An engine from `engines` places a call to a raw callee: the engine, the callee's socket, the call and its INVITE. */
export async function placeCall(engines: LoopbackEngines, closers: Array<() => void>, o: EngineOptions = {}): Promise<{ engine: Engine; sip: RawSip; call: Call; invite: SipRequest }> {
  const engine = await engines.start(o);
  const sip = await new RawSip().open();
  closers.push(() => sip.close());
  const call = await engine.call(`sip:bob@${LO}:${sip.port}`);
  const invite = await sip.request((r) => r.method === 'INVITE');
  return { engine, sip, call, invite };
}
