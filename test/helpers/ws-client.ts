// A WebSocket test client that queues what it receives, so tests can await frames in order.
import WebSocket, { type ClientOptions } from 'ws';

export type Frame = { kind: 'text'; text: string; json: any } | { kind: 'binary'; data: Buffer };

export class TestClient {
  readonly ws: WebSocket;
  private readonly frames: Frame[] = [];
  private waiters: Array<() => void> = [];
  closed: { code: number; reason: string } | undefined;
  private closeWaiters: Array<() => void> = [];

  /** HTTP status when the server refused the upgrade. */
  refused: number | undefined;

  constructor(url: string, protocols?: string | string[], options?: ClientOptions) {
    this.ws = new WebSocket(url, protocols, options);
    // With a listener here ws leaves the refused handshake to us: record it and abort (close 1006).
    this.ws.on('unexpected-response', (_req, res) => {
      this.refused = res.statusCode;
      res.resume();
      this.ws.terminate();
    });
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) this.frames.push({ kind: 'binary', data: data as Buffer });
      else {
        const text = data.toString();
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        this.frames.push({ kind: 'text', text, json });
      }
      this.wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
      this.closeWaiters.forEach((w) => w());
    });
    this.ws.on('error', () => {});
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  opened(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
  }

  /** Next frame (optionally the next one matching), failing after `timeoutMs`. */
  async next(match?: (f: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const idx = match ? this.frames.findIndex(match) : this.frames.length ? 0 : -1;
      if (idx >= 0) return this.frames.splice(idx, 1)[0]!;
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting for a frame`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a frame');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Next JSON text frame, optionally with a given `event`/`type`. */
  async json(event?: string, timeoutMs = 5000): Promise<any> {
    const f = await this.next((f) => f.kind === 'text' && (event === undefined || f.json?.event === event || f.json?.type === event), timeoutMs);
    return (f as { json: unknown }).json;
  }

  async text(timeoutMs = 5000): Promise<string> {
    const f = await this.next((f) => f.kind === 'text', timeoutMs);
    return (f as { text: string }).text;
  }

  pending(): Frame[] {
    return [...this.frames];
  }

  /** Drop every frame received so far (a test that only wants what comes next). */
  discard(): void {
    this.frames.length = 0;
  }

  send(data: string | Buffer | object): void {
    this.ws.send(typeof data === 'string' || Buffer.isBuffer(data) ? data : JSON.stringify(data));
  }

  waitClose(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for close')), timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(t);
        resolve(this.closed!);
      });
    });
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
  }
}
