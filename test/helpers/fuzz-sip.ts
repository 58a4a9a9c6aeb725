// SIP over real UDP for the fuzz suite and the hostile probe: a multi-source datagram sender that
// keeps what came back, listeners standing in for third parties, and a legitimate caller
// (OPTIONS, and a whole INVITE/200/ACK/BYE call) to prove the engine still serves.
import dgram from 'node:dgram';
import { parseMessage, type SipResponse } from '../../src/sip/codec/message.js';
import type { Rng } from './prng.js';
import { THIRD_PARTY, sdpOffer, sipFuzzCase, type SipContext } from './fuzz-gen.js';
import { sleep } from './wait.js';


export function bindUdp(address: string, port = 0): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(port, address, () => {
      s.off('error', reject);
      s.on('error', () => {});
      resolve(s);
    });
  });
}

export interface SipFinding {
  kind: 'control-in-header' | 'amplified';
  detail: string;
}

const CALL_ID_TOKEN = /^(?:Call-ID|i)[ \t]*:[ \t]*([a-z0-9]{16})@/im;

/**
 * What a response must never be: a header section carrying NUL or a CR or LF that is not part of
 * a CRLF line end (header injection, finding 4).
 */
export function responseControlProblem(buf: Buffer): string | undefined {
  let end = buf.indexOf('\r\n\r\n');
  if (end < 0) end = buf.length;
  for (let i = 0; i < end; i++) {
    const c = buf[i]!;
    if (c === 0x0d && buf[i + 1] === 0x0a) {
      i++;
      continue;
    }
    if (c === 0x00 || c === 0x0d || c === 0x0a) {
      const line = buf.subarray(buf.lastIndexOf(0x0a, i) + 1, Math.min(end, i + 40)).toString('latin1');
      return `byte 0x${c.toString(16).padStart(2, '0')} inside a header: ${JSON.stringify(line.slice(0, 80))}`;
    }
  }
  return undefined;
}

/**
 * Sends fuzz datagrams from several loopback source addresses (a per-source rate limit must not
 * hide the parser from the fuzz) and checks every response that comes back.
 */
export class SipFuzzer {
  sent = 0;
  sentBytes = 0;
  received = 0;
  receivedBytes = 0;
  readonly findings: SipFinding[] = [];
  /** Request size by the Call-ID token it carried, to relate responses to requests. */
  private readonly sizeByToken = new Map<string, number>();

  private constructor(
    readonly sockets: dgram.Socket[],
    readonly target: { host: string; port: number },
    readonly third: { port: number; rtpPort: number },
  ) {
    for (const s of sockets) s.on('message', (buf) => this.onResponse(buf));
  }

  static async open(target: { host: string; port: number }, third: { port: number; rtpPort: number }, sources = 8): Promise<SipFuzzer> {
    const sockets = await Promise.all(Array.from({ length: sources }, (_, i) => bindUdp(`127.0.1.${i + 1}`)));
    return new SipFuzzer(sockets, target, third);
  }

  private onResponse(buf: Buffer): void {
    this.received++;
    this.receivedBytes += buf.length;
    if (this.findings.length > 50) return;
    const ctl = responseControlProblem(buf);
    if (ctl) this.findings.push({ kind: 'control-in-header', detail: ctl });
    const tok = CALL_ID_TOKEN.exec(buf.toString('latin1', 0, Math.min(buf.length, 8192)))?.[1];
    const reqSize = tok ? this.sizeByToken.get(tok) : undefined;
    if (reqSize !== undefined && buf.length > reqSize * 1.5 + 2048) {
      this.findings.push({ kind: 'amplified', detail: `a ${reqSize} B request got a ${buf.length} B response (${(buf.length / reqSize).toFixed(2)}x)` });
    }
  }

  context(i: number): SipContext {
    const s = this.sockets[i]!.address();
    return { target: this.target, source: { address: s.address, port: s.port }, thirdPort: this.third.port, thirdRtpPort: this.third.rtpPort };
  }

  send(i: number, bytes: Buffer): void {
    const text = bytes.toString('latin1', 0, Math.min(bytes.length, 8192));
    const tok = CALL_ID_TOKEN.exec(text)?.[1];
    if (tok) this.sizeByToken.set(tok, bytes.length);
    this.sent++;
    this.sentBytes += bytes.length;
    this.sockets[i]!.send(bytes, this.target.port, this.target.host);
  }

  /** `count` mutated datagrams, `perTick` every 5 ms, rotating over the source sockets. */
  async batch(rng: Rng, count: number, perTick = 10): Promise<Record<string, number>> {
    const used: Record<string, number> = {};
    for (let n = 0; n < count; n++) {
      const i = n % this.sockets.length;
      const c = sipFuzzCase(rng, this.context(i));
      for (const m of c.mutators) used[m] = (used[m] ?? 0) + 1;
      this.send(i, c.bytes);
      if (n % perTick === perTick - 1) await sleep(5);
    }
    return used;
  }

  close(): void {
    for (const s of this.sockets) s.close();
  }
}

/** Listeners on the third-party addresses: signalling port, RTP and RTCP ports; bytes by address. */
export class ThirdParties {
  readonly bytes = new Map<string, number>();
  readonly packets = new Map<string, number>();

  private constructor(
    private readonly sockets: dgram.Socket[],
    readonly port: number,
    readonly rtpPort: number,
  ) {
    for (const s of sockets) {
      const where = `${s.address().address}:${s.address().port}`;
      s.on('message', (buf) => {
        this.bytes.set(where, (this.bytes.get(where) ?? 0) + buf.length);
        this.packets.set(where, (this.packets.get(where) ?? 0) + 1);
      });
    }
  }

  /** Bind `port` on every third-party address and `rtpPort`/`rtpPort + 1` on the media one. */
  static async open(): Promise<ThirdParties> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      const rtpPort = (port + 2) & ~1;
      const sockets: dgram.Socket[] = [];
      try {
        for (const addr of Object.values(THIRD_PARTY)) sockets.push(await bindUdp(addr, port));
        sockets.push(await bindUdp(THIRD_PARTY.media, rtpPort), await bindUdp(THIRD_PARTY.media, rtpPort + 1));
        return new ThirdParties(sockets, port, rtpPort);
      } catch {
        for (const s of sockets) s.close();
      }
    }
    throw new Error('no free port for the third-party listeners');
  }

  total(): number {
    let t = 0;
    for (const b of this.bytes.values()) t += b;
    return t;
  }

  describe(): string {
    return [...this.bytes].map(([k, v]) => `${k}: ${this.packets.get(k)} datagrams, ${v} B`).join('; ') || 'nothing';
  }

  close(): void {
    for (const s of this.sockets) s.close();
  }
}

/** A plain SIP UA on one socket: sends text, waits for parsed responses. */
export class SipPeer {
  readonly got: Array<{ msg: SipResponse; size: number }> = [];
  private waiters: Array<() => void> = [];
  private constructor(readonly sock: dgram.Socket) {
    sock.on('message', (buf) => {
      const p = parseMessage(buf);
      if (p.ok && p.message.kind === 'response') this.got.push({ msg: p.message, size: buf.length });
      this.waiters.splice(0).forEach((w) => w());
    });
  }

  static async open(address = '127.0.0.1', port = 0): Promise<SipPeer> {
    return new SipPeer(await bindUdp(address, port));
  }

  get address(): { address: string; port: number } {
    return this.sock.address();
  }

  send(text: string | Buffer, port: number, host = '127.0.0.1'): void {
    this.sock.send(typeof text === 'string' ? Buffer.from(text, 'latin1') : text, port, host);
  }

  async response(pred: (r: SipResponse) => boolean, timeoutMs = 3000): Promise<SipResponse | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.got.findIndex((g) => pred(g.msg));
      if (i >= 0) return this.got.splice(i, 1)[0]!.msg;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 50));
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }

  close(): void {
    this.sock.close();
  }
}

let seq = 0;
const token = (p: string) => `${p}-${process.pid}-${++seq}-${Math.random().toString(36).slice(2, 10)}`;

function request(method: string, peer: { address: string; port: number }, target: number, o: { callId: string; cseq: number; fromTag: string; to?: string; uri?: string; body?: string }): string {
  const body = o.body ?? '';
  return (
    `${method} ${o.uri ?? `sip:callchart@127.0.0.1:${target}`} SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP ${peer.address}:${peer.port};branch=z9hG4bK-${token('b')};rport\r\n` +
    'Max-Forwards: 70\r\n' +
    `From: <sip:legit@${peer.address}:${peer.port}>;tag=${o.fromTag}\r\n` +
    `To: ${o.to ?? `<sip:callchart@127.0.0.1:${target}>`}\r\n` +
    `Call-ID: ${o.callId}\r\n` +
    `CSeq: ${o.cseq} ${method}\r\n` +
    `Contact: <sip:legit@${peer.address}:${peer.port}>\r\n` +
    (body ? 'Content-Type: application/sdp\r\n' : '') +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** OPTIONS from a fresh socket: the status (undefined = no answer) and how long it took. */
export async function sipOptions(port: number, from = '127.0.0.1', timeoutMs = 2000): Promise<{ status: number | undefined; ms: number }> {
  const peer = await SipPeer.open(from);
  try {
    const callId = token('opt');
    const t0 = performance.now();
    peer.send(request('OPTIONS', peer.address, port, { callId, cseq: 1, fromTag: token('t') }), port);
    const r = await peer.response((m) => m.headers.get('Call-ID') === callId && m.status >= 200, timeoutMs);
    return { status: r?.status, ms: performance.now() - t0 };
  } finally {
    peer.close();
  }
}

export interface LegitCall {
  peer: SipPeer;
  callId: string;
  fromTag: string;
  to: string;
  /** The engine's RTP endpoint from its SDP answer. */
  media: { address: string; port: number } | undefined;
  hangup(): Promise<number | undefined>;
}

/** INVITE with an SDP offer → 200 → ACK. Resolves with the call, or a reason it failed. */
export async function sipCall(port: number, o: { from?: string; rtpPort?: number; timeoutMs?: number } = {}): Promise<LegitCall | string> {
  const peer = await SipPeer.open(o.from ?? '127.0.0.1');
  const callId = token('call');
  const fromTag = token('t');
  const me = peer.address;
  peer.send(request('INVITE', me, port, { callId, cseq: 1, fromTag, body: sdpOffer(me.address, o.rtpPort ?? 4000) }), port);
  const res = await peer.response((m) => m.headers.get('Call-ID') === callId && m.status >= 200, o.timeoutMs ?? 3000);
  if (!res) {
    peer.close();
    return 'INVITE: no final response';
  }
  if (res.status !== 200) {
    peer.close();
    return `INVITE answered ${res.status} ${res.reason}`;
  }
  const to = res.headers.get('To') ?? '';
  const contact = /<([^>]+)>/.exec(res.headers.get('Contact') ?? '')?.[1];
  peer.send(request('ACK', me, port, { callId, cseq: 1, fromTag, to, ...(contact ? { uri: contact } : {}) }), port);
  const sdp = res.body.toString();
  const c = /^c=IN IP4 (\S+)/m.exec(sdp)?.[1];
  const m = /^m=audio (\d+)/m.exec(sdp)?.[1];
  return {
    peer,
    callId,
    fromTag,
    to,
    media: c && m ? { address: c, port: Number(m) } : undefined,
    async hangup() {
      peer.send(request('BYE', me, port, { callId, cseq: 2, fromTag, to, ...(contact ? { uri: contact } : {}) }), port);
      const r = await peer.response((x) => x.headers.get('Call-ID') === callId && x.headers.get('CSeq')?.includes('BYE') === true && x.status >= 200, 3000);
      peer.close();
      return r?.status;
    },
  };
}

/** A whole legitimate call; undefined when it worked, else what went wrong. */
export async function sipCallWorks(port: number, from = '127.0.0.1'): Promise<string | undefined> {
  const call = await sipCall(port, { from });
  if (typeof call === 'string') return call;
  const bye = await call.hangup();
  return bye === 200 ? undefined : `BYE answered ${bye ?? 'nothing'}`;
}
