// A raw SIP client for the integration tests: plain text over a real UDP socket on loopback, so
// what callchart sends back is read exactly as a peer reads it.
import dgram from 'node:dgram';
import { parseMessage, type SipRequest, type SipResponse } from '../../src/sip/codec/message.js';

/** A raw SIP client: sends text, collects parsed responses. */
export class RawSip {
  readonly sock = dgram.createSocket('udp4');
  readonly got: SipResponse[] = [];
  /** Requests received (a BYE from the engine), in arrival order. */
  readonly requests: SipRequest[] = [];
  /** The source port of every response received, in arrival order. */
  readonly fromPorts: number[] = [];
  /** Every datagram's size, whatever it held. */
  bytes = 0;
  datagrams = 0;
  port = 0;
  private waiters: Array<() => void> = [];
  /** `address`: another loopback address (127.0.0.3 …) stands for a third party. */
  async open(address = '127.0.0.1', port = 0): Promise<this> {
    await new Promise<void>((r) => this.sock.bind(port, address, () => r()));
    this.port = this.sock.address().port;
    this.sock.on('message', (buf, rinfo) => {
      this.bytes += buf.length;
      this.datagrams++;
      this.fromPorts.push(rinfo.port);
      const p = parseMessage(buf);
      if (p.ok && p.message.kind === 'response') this.got.push(p.message);
      else if (p.ok && p.message.kind === 'request') this.requests.push(p.message);
      this.waiters.splice(0).forEach((w) => w());
    });
    return this;
  }
  /** Wait for a request (e.g. the engine's BYE) matching `pred`. */
  async request(pred: (r: SipRequest) => boolean = () => true, timeoutMs = 3000): Promise<SipRequest> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.requests.findIndex(pred);
      if (i >= 0) return this.requests.splice(i, 1)[0]!;
      if (Date.now() > deadline) throw new Error('no matching SIP request');
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }
  send(text: string, port: number): void {
    this.sock.send(Buffer.from(text.replace(/\n/g, '\r\n')), port, '127.0.0.1');
  }
  async response(pred: (r: SipResponse) => boolean = () => true, timeoutMs = 3000): Promise<SipResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.got.findIndex(pred);
      if (i >= 0) return this.got.splice(i, 1)[0]!;
      if (Date.now() > deadline) throw new Error('no matching SIP response');
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }
  close(): void {
    this.sock.close();
  }
}

export function request(method: string, port: number, clientPort: number, extra: Partial<Record<string, string>> = {}, body = ''): string {
  const branch = `z9hG4bK${Math.random().toString(36).slice(2)}`;
  const h: Record<string, string> = {
    Via: `SIP/2.0/UDP 127.0.0.1:${clientPort};branch=${branch};rport`,
    'Max-Forwards': '70',
    From: `<sip:alice@127.0.0.1:${clientPort}>;tag=a1`,
    To: `<sip:callchart@127.0.0.1:${port}>`,
    'Call-ID': `raw-${Math.random().toString(36).slice(2)}@127.0.0.1`,
    CSeq: `1 ${method}`,
    Contact: `<sip:alice@127.0.0.1:${clientPort}>`,
    ...extra,
  };
  const lines = Object.entries(h).filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}: ${v}`);
  // send() turns every \n into \r\n, so the length is counted on the body as it will be sent.
  return `${method} sip:callchart@127.0.0.1:${port} SIP/2.0\n${lines.join('\n')}\nContent-Length: ${Buffer.byteLength(body.replace(/\n/g, '\r\n'))}\n\n${body}`;
}
