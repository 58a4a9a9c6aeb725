// A jambonz feature-server audio fork, simulated from the jambonz docs: it opens an
// `audio.jambonz.org` socket like the `listen` verb does, sends the metadata text frame (call
// attributes + sampleRate + mixType + custom metadata), then paced binary L16 frames (20 ms each:
// 640 bytes at 16 kHz mono), and records every frame the application sends back. It can close
// cleanly or drop the TCP connection abruptly (terminate), as a crashed media server would.
import WebSocket from 'ws';

export const AUDIO_SUBPROTOCOL = 'audio.jambonz.org';

export interface SimMetadata {
  callSid: string;
  sampleRate: number;
  mixType: 'mono' | 'stereo' | 'mixed';
  [field: string]: unknown;
}

/** Default call attributes, shaped like the feature-server's CallInfo. */
export function simMetadata(callSid: string, extra: Partial<SimMetadata> = {}): SimMetadata {
  return {
    callSid,
    direction: 'inbound',
    from: '+15551230000',
    to: '+15559870000',
    callId: `${callSid}@sim`,
    sipStatus: 200,
    sipReason: 'OK',
    callStatus: 'in-progress',
    accountSid: 'acct-1',
    applicationSid: 'app-1',
    sampleRate: 16000,
    mixType: 'mono',
    ...extra,
  };
}

/** Deterministic L16 samples for frame `seq` (a ramp, so a shifted or lost frame is visible). */
export function simFrame(seq: number, bytes = 640): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes / 2; i++) b.writeInt16LE(((seq * 331 + i * 7) % 60000) - 30000, i * 2);
  return b;
}

export type SimReceived = { kind: 'text'; json: Record<string, unknown> } | { kind: 'binary'; data: Buffer };

export class JambonzAudioSim {
  readonly ws: WebSocket;
  readonly received: SimReceived[] = [];
  closed: { code: number; reason: string } | undefined;
  /** HTTP status when the upgrade was refused. */
  refused: number | undefined;
  sentFrames = 0;
  sentBytes = 0;
  private readonly opened: Promise<void>;
  private readonly closedP: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];

  constructor(url: string, protocols: string | string[] = AUDIO_SUBPROTOCOL) {
    this.ws = new WebSocket(url, protocols, { perMessageDeflate: false });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => {
        this.refused = res.statusCode;
        reject(new Error(`HTTP ${res.statusCode}`));
      });
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {});
    this.closedP = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        this.wake();
        resolve(this.closed);
      });
    });
    this.ws.on('error', () => {});
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) this.received.push({ kind: 'binary', data: data as Buffer });
      else this.received.push({ kind: 'text', json: JSON.parse(data.toString()) as Record<string, unknown> });
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  open(): Promise<void> {
    return this.opened;
  }

  sendMetadata(md: SimMetadata | Record<string, unknown>): void {
    this.ws.send(JSON.stringify(md));
  }

  sendText(text: string): void {
    this.ws.send(text);
  }

  sendFrame(frame: Buffer): void {
    this.ws.send(frame, { binary: true });
    this.sentFrames++;
    this.sentBytes += frame.length;
  }

  /** `count` frames, one every `intervalMs` (0 = back to back); returns what was sent, in order. */
  async stream(count: number, opts: { intervalMs?: number; bytes?: number; from?: number } = {}): Promise<Buffer[]> {
    const interval = opts.intervalMs ?? 20;
    const sent: Buffer[] = [];
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      if (this.ws.readyState !== WebSocket.OPEN) break;
      const f = simFrame((opts.from ?? 0) + i, opts.bytes);
      this.sendFrame(f);
      sent.push(f);
      if (interval > 0) {
        const wait = t0 + (i + 1) * interval - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
    return sent;
  }

  /** The next JSON message from the application matching `pred`. */
  async nextText(pred: (j: Record<string, unknown>) => boolean = () => true, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex((r) => r.kind === 'text' && pred(r.json));
      if (i >= 0) return (this.received.splice(i, 1)[0] as { json: Record<string, unknown> }).json;
      if (this.closed) throw new Error(`closed (${this.closed.code} ${this.closed.reason}) while waiting for a message`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a message');
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  binaries(): Buffer[] {
    return this.received.flatMap((r) => (r.kind === 'binary' ? [r.data] : []));
  }

  /** Wait until the server's binary frames add up to `bytes`. */
  async waitBinary(bytes: number, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const all = Buffer.concat(this.binaries());
      if (all.length >= bytes) return all;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${bytes} bytes of audio (got ${all.length})`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(code = 1000): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code);
    return this.closedP;
  }

  /** Drop the TCP connection with no close frame (a crashed media server). */
  terminate(): Promise<{ code: number; reason: string }> {
    this.ws.terminate();
    return this.closedP;
  }

  waitClose(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    return Promise.race([
      this.closedP,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out waiting for close')), timeoutMs).unref()),
    ]);
  }
}
