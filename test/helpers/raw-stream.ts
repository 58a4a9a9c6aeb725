// A raw SIP client over TCP or TLS for the integration tests: text over a real loopback
// connection, framed by the engine's own StreamFramer, so what callchart sends back is read as a
// peer reads it, keep-alive pongs included.
import net from 'node:net';
import tls from 'node:tls';
import { createResponse, parseMessage, serialize, type SipRequest, type SipResponse } from '../../src/sip/codec/message.js';
import { StreamFramer } from '../../src/sip/transport/stream-framer.js';
import { request } from './raw-sip.js';

export class RawStream {
  readonly got: SipResponse[] = [];
  readonly requests: SipRequest[] = [];
  /** Every byte received, as text. */
  text = '';
  readonly closed: Promise<void>;
  private readonly framer = new StreamFramer({ maxMessageBytes: 1 << 20, maxHeaderBytes: 1 << 20 });

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.text += chunk.toString('latin1');
      for (const ev of this.framer.push(chunk)) {
        if (ev.type !== 'message') continue;
        const p = parseMessage(ev.bytes);
        if (p.ok && p.message.kind === 'response') this.got.push(p.message);
        else if (p.ok && p.message.kind === 'request') this.requests.push(p.message);
      }
    });
    socket.on('error', () => {});
    this.closed = new Promise((r) => socket.once('close', () => r()));
  }

  static connect(port: number, secure = false): Promise<RawStream> {
    return new Promise((resolve, reject) => {
      const s = secure ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }) : net.connect({ port, host: '127.0.0.1' });
      s.once('error', reject);
      s.once(secure ? 'secureConnect' : 'connect', () => resolve(new RawStream(s)));
    });
  }

  get port(): number {
    return this.socket.localPort ?? 0;
  }

  /** Send text, \n turned into \r\n, optionally in two writes split at `splitAt`. */
  send(text: string, splitAt?: number): void {
    const b = Buffer.from(text.replace(/\n/g, '\r\n'));
    if (splitAt === undefined) this.socket.write(b);
    else {
      this.socket.write(b.subarray(0, splitAt));
      setTimeout(() => this.socket.write(b.subarray(splitAt)), 20);
    }
  }

  async response(pred: (r: SipResponse) => boolean = () => true, timeoutMs = 3000): Promise<SipResponse> {
    return take(this.got, pred, timeoutMs, 'no matching SIP response');
  }

  async request(pred: (r: SipRequest) => boolean = () => true, timeoutMs = 3000): Promise<SipRequest> {
    return take(this.requests, pred, timeoutMs, 'no matching SIP request');
  }

  close(): void {
    this.socket.destroy();
  }
}

async function take<T>(list: T[], pred: (x: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const i = list.findIndex(pred);
    if (i >= 0) return list.splice(i, 1)[0]!;
    if (Date.now() > deadline) throw new Error(what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A request as raw-sip.ts builds it, with a TCP or TLS Via. */
export function streamRequest(kind: 'TCP' | 'TLS', method: string, port: number, clientPort: number, extra: Partial<Record<string, string>> = {}, body = ''): string {
  return request(method, port, clientPort, extra, body).replace('SIP/2.0/UDP', `SIP/2.0/${kind}`);
}

/**
 * A scripted callee on a stream, as a 'data' listener: INVITEs get a 200 with `sdp` and
 * `contact` (To tag `b1`), BYEs a 200; every request is recorded in `got`.
 */
export function answerRequests(write: (b: Buffer) => void, got: SipRequest[], contact: string, sdp: string): (chunk: Buffer) => void {
  const framer = new StreamFramer();
  return (chunk) => {
    for (const ev of framer.push(chunk)) {
      if (ev.type !== 'message') continue;
      const p = parseMessage(ev.bytes);
      if (!p.ok || p.message.kind !== 'request') continue;
      got.push(p.message);
      if (p.message.method === 'INVITE') {
        write(serialize(createResponse(p.message, 200, 'OK', { toTag: 'b1', headers: [['Contact', contact]], body: sdp, contentType: 'application/sdp' })));
      } else if (p.message.method === 'BYE') write(serialize(createResponse(p.message, 200)));
    }
  };
}
