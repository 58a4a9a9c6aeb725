// A voice bot as Twilio's "Media Streams – WebSocket Messages" page describes the bot's side,
// written from that page and not from src/streams: it accepts the platform's connections, checks
// every message it is sent (connected first, then start with sequenceNumber "1", sequence numbers
// and media chunks counting up by one, timestamps never going back), decodes the caller's μ-law,
// and sends media / mark / clear back. Tests drive it and read what it saw.
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

/** G.711 μ-law decode (ITU-T G.711), kept here so the bot does not share the engine's codec. */
function ulawToLinear(u: number): number {
  u = ~u & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

function linearToUlaw(s: number): number {
  const BIAS = 0x84;
  const sign = s < 0 ? 0x80 : 0;
  let x = Math.min(Math.abs(s), 32635) + BIAS;
  let exp = 7;
  for (let mask = 0x4000; (x & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mant = (x >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}

export function ulawBytes(pcm: ArrayLike<number>): Buffer {
  const out = Buffer.alloc(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = linearToUlaw(pcm[i]!);
  return out;
}

export function sine(hz: number, ms: number, amplitude = 8000): Int16Array {
  const n = (8000 * ms) / 1000;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / 8000));
  return out;
}

export interface BotMessage {
  event: string;
  sequenceNumber?: string;
  streamSid?: string;
  [k: string]: unknown;
}

/** One connection from the platform. */
export class BotConnection extends EventEmitter<{ message: [BotMessage]; mark: [name: string, at: number]; close: [code: number] }> {
  readonly messages: BotMessage[] = [];
  /** Problems with what the platform sent (a test asserts this stays empty). */
  readonly problems: string[] = [];
  /** The caller's audio, decoded (inbound track). */
  readonly inbound: number[] = [];
  start: { streamSid: string; accountSid: string; callSid: string; tracks: string[]; customParameters: Record<string, string>; mediaFormat: Record<string, unknown> } | undefined;
  streamSid = '';
  closed: number | undefined;
  private lastSeq = 0;
  private lastChunk = 0;
  private lastTs = -1;

  constructor(readonly ws: WebSocket) {
    super();
    ws.on('message', (data, isBinary) => {
      if (isBinary) return void this.problems.push('binary frame');
      let m: BotMessage;
      try {
        m = JSON.parse(data.toString()) as BotMessage;
      } catch {
        return void this.problems.push('not JSON');
      }
      this.check(m);
      this.messages.push(m);
      if (m.event === 'mark') this.emit('mark', (m.mark as { name: string }).name, performance.now());
      this.emit('message', m);
    });
    ws.on('close', (code) => {
      this.closed = code;
      this.emit('close', code);
    });
  }

  private check(m: BotMessage): void {
    const n = this.messages.length;
    if (n === 0) {
      if (m.event !== 'connected' || m.protocol !== 'Call' || typeof m.version !== 'string') this.problems.push(`first message is not connected: ${JSON.stringify(m)}`);
      if ('sequenceNumber' in m) this.problems.push('connected carries a sequenceNumber');
      return;
    }
    if (n === 1 && m.event !== 'start') this.problems.push(`second message is ${m.event}, not start`);
    const seq = Number(m.sequenceNumber);
    if (typeof m.sequenceNumber !== 'string' || seq !== this.lastSeq + 1) this.problems.push(`sequenceNumber ${String(m.sequenceNumber)} after ${this.lastSeq}`);
    this.lastSeq = seq;
    if (m.event === 'start') {
      this.start = m.start as BotConnection['start'];
      this.streamSid = this.start!.streamSid;
      if (m.streamSid !== this.streamSid) this.problems.push('start: streamSid differs from start.streamSid');
      const f = this.start!.mediaFormat;
      if (f.encoding !== 'audio/x-mulaw' || f.sampleRate !== 8000 || f.channels !== 1) this.problems.push(`mediaFormat ${JSON.stringify(f)}`);
      return;
    }
    if (m.streamSid !== this.streamSid) this.problems.push(`${m.event}: streamSid ${String(m.streamSid)}`);
    if (m.event === 'media') {
      const media = m.media as { track: string; chunk: string; timestamp: string; payload: string };
      if (Number(media.chunk) !== this.lastChunk + 1) this.problems.push(`chunk ${media.chunk} after ${this.lastChunk}`);
      this.lastChunk = Number(media.chunk);
      const ts = Number(media.timestamp);
      if (typeof media.timestamp !== 'string' || !(ts >= this.lastTs)) this.problems.push(`timestamp ${media.timestamp} after ${this.lastTs}`);
      this.lastTs = ts;
      if (media.track !== 'inbound') this.problems.push(`track ${media.track}`);
      for (const b of Buffer.from(media.payload, 'base64')) this.inbound.push(ulawToLinear(b));
    }
  }

  count(event: string): number {
    return this.messages.filter((m) => m.event === event).length;
  }

  /** Send audio (PCM, encoded here) as one `media` message or in chunks of `chunkMs`. */
  sendAudio(pcm: Int16Array, chunkMs?: number): void {
    const bytes = ulawBytes(pcm);
    const step = chunkMs ? chunkMs * 8 : bytes.length;
    for (let i = 0; i < bytes.length; i += step) this.raw({ event: 'media', streamSid: this.streamSid, media: { payload: bytes.subarray(i, i + step).toString('base64') } });
  }

  mark(name: string): void {
    this.raw({ event: 'mark', streamSid: this.streamSid, mark: { name } });
  }

  clear(): void {
    this.raw({ event: 'clear', streamSid: this.streamSid });
  }

  raw(m: unknown): void {
    this.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  }
}

export class TwilioBotSim extends EventEmitter<{ connection: [BotConnection] }> {
  readonly connections: BotConnection[] = [];
  private constructor(private readonly wss: WebSocketServer) {
    super();
    wss.on('connection', (ws) => {
      const c = new BotConnection(ws);
      this.connections.push(c);
      this.emit('connection', c);
    });
  }

  static async start(): Promise<TwilioBotSim> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 16 * 1024 * 1024 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    return new TwilioBotSim(wss);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/bot`;
  }

  /** The next connection that has sent its `start`. */
  nextStarted(timeoutMs = 5000): Promise<BotConnection> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no stream started on the bot')), timeoutMs);
      this.once('connection', (c) => {
        const on = (m: BotMessage) => {
          if (m.event !== 'start') return;
          c.off('message', on);
          clearTimeout(t);
          resolve(c);
        };
        c.on('message', on);
      });
    });
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.ws.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }
}
