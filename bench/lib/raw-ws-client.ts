// A minimal WebSocket client (RFC 6455) for load generation: one net.Socket, hand-rolled framing,
// a zero masking key (legal, and it lets a frame be written without XOR-ing the payload). It is a
// fraction of the CPU per frame of the `ws` client, so one load-generator core can drive more calls
// than the server under test can, which is the point: the bench must measure the server.
import net from 'node:net';
import { randomBytes } from 'node:crypto';

export interface RawWsHandlers {
  onOpen(): void;
  onText(text: string): void;
  onBinary(payload: Buffer): void;
  onClose(reason: string): void;
}

const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;

export class RawWsClient {
  readonly socket: net.Socket;
  open = false;
  closed = false;
  private handshakeDone = false;
  private pending: Buffer | undefined;

  /** `protocol`: offered as Sec-WebSocket-Protocol (routes such as jambonz's require one). */
  constructor(port: number, host: string, wsPath: string, private readonly h: RawWsHandlers, protocol?: string) {
    this.socket = net.connect({ port, host, noDelay: true });
    this.socket.on('connect', () => {
      const key = randomBytes(16).toString('base64');
      this.socket.write(
        `GET ${wsPath} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
          (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') +
          '\r\n',
      );
    });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.finish(`socket error: ${err.message}`));
    this.socket.on('close', () => this.finish('socket closed'));
  }

  /** Build a frame in place: caller fills `frame.subarray(headerLength)`; saves one copy per send. */
  static binaryFrame(len: number): { frame: Buffer; headerLength: number } {
    const head = len < 126 ? 6 : 8;
    const frame = Buffer.allocUnsafe(head + len);
    frame[0] = 0x80 | OP_BINARY;
    if (len < 126) frame[1] = 0x80 | len;
    else {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(len, 2);
    }
    frame.writeUInt32BE(0, head - 4);
    return { frame, headerLength: head };
  }

  /** Build a text frame (same zero-mask framing as binaryFrame). */
  static textFrame(text: string): Buffer {
    const body = Buffer.from(text);
    const { frame, headerLength } = RawWsClient.binaryFrame(body.length);
    frame[0] = 0x80 | OP_TEXT;
    body.copy(frame, headerLength);
    return frame;
  }

  /** Write a frame made with binaryFrame(). */
  writeFrame(frame: Buffer): boolean {
    if (!this.open) return false;
    this.socket.write(frame);
    return true;
  }

  close(): void {
    if (this.closed) return;
    if (this.open) this.socket.write(Buffer.from([0x80 | OP_CLOSE, 0x82, 0, 0, 0, 0, 0x03, 0xe8]));
    this.open = false;
    this.socket.end();
    // Do not wait on a lingering peer.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.open = false;
    this.socket.destroy();
    this.h.onClose(reason);
  }

  private onData(chunk: Buffer): void {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    if (!this.handshakeDone) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        this.pending = buf;
        return;
      }
      const head = buf.toString('latin1', 0, end);
      if (!head.startsWith('HTTP/1.1 101')) {
        this.finish(`handshake refused: ${head.split('\r\n')[0]}`);
        return;
      }
      this.handshakeDone = true;
      this.open = true;
      buf = buf.subarray(end + 4);
      this.h.onOpen();
    }
    let off = 0;
    while (buf.length - off >= 2) {
      const b0 = buf[off]!;
      const b1 = buf[off + 1]!;
      let len = b1 & 0x7f;
      let p = off + 2;
      if (len === 126) {
        if (buf.length - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        p = off + 4;
      } else if (len === 127) {
        if (buf.length - off < 10) break;
        len = Number(buf.readBigUInt64BE(off + 2));
        p = off + 10;
      }
      if (b1 & 0x80) p += 4; // servers must not mask; tolerate it by skipping (payload unused then)
      if (buf.length < p + len) break;
      const payload = buf.subarray(p, p + len);
      off = p + len;
      const op = b0 & 0x0f;
      if (op === OP_BINARY) this.h.onBinary(payload);
      else if (op === OP_TEXT) this.h.onText(payload.toString('utf8'));
      else if (op === OP_PING) {
        if (this.open) this.socket.write(Buffer.concat([Buffer.from([0x8a, 0x80 | len, 0, 0, 0, 0]), payload]));
      } else if (op === OP_CLOSE) {
        const code = len >= 2 ? payload.readUInt16BE(0) : 1005;
        this.finish(`closed by server (${code}${len > 2 ? ` ${payload.toString('utf8', 2)}` : ''})`);
        return;
      }
      if (this.closed) return;
    }
    if (off < buf.length) this.pending = Buffer.from(buf.subarray(off));
  }
}
