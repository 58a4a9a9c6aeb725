// WebSocket data frames written straight to the connection's socket (issue 20), by servers and,
// masked, by clients (a `call.stream()` to a bot).
//
// `ws`'s send builds two option objects per message (one with a computed symbol key, which V8
// stores through a runtime call), a header buffer of its own, and corks the socket to hand header
// and payload to the kernel as one writev; a client's masked frame is one more copy. An audio frame
// is a few hundred bytes: writing the message into the frame's own buffer and writing that once
// costs less, in JavaScript, in Node's stream code and in the kernel.
//
// Only where `ws` itself would write at once and unchanged: the connection is open (a close frame
// has not been sent) and no extension was negotiated (per-message deflate queues and compresses).
// `ws` writes its own frames (control, text through `ws.send`) synchronously to the same socket,
// so the order on the wire is the order of the calls.
import { randomFillSync } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

export const OPCODE_TEXT = 0x1;
export const OPCODE_BINARY = 0x2;
type DataOpcode = typeof OPCODE_TEXT | typeof OPCODE_BINARY;

/** Above this, header and payload go as two writes under one cork rather than one copy. */
const MAX_COPY = 16 * 1024;
// ws send options for the fallback (one object each, not one per frame).
const BINARY = { binary: true } as const;
const TEXT = { binary: false } as const;

/**
 * The last frame buffer, free to be written again when its write finished before `write`
 * returned (the kernel or TLS holds a copy). Frames of one route are one size, so the next frame
 * usually fits it exactly: no view, and no fresh 8 KiB pool every ~25 frames (the malloc that
 * stop 48's perf showed over bare's). A write still queued keeps its buffer; the next frame then
 * gets a new one.
 */
let spare: Buffer | null = null;

/** What the fallback needs of a `ws` WebSocket. */
export interface WsSender {
  send(data: Buffer, opts: { binary: boolean }, cb?: (err?: Error) => void): void;
}

/**
 * The connection's socket when this module may write its data frames (`ws` and `socket` from the
 * same upgrade, no extension), else undefined: send through `ws`.
 */
export function directSocket(ws: WebSocket, socket: Duplex): Duplex | undefined {
  return ws.extensions === '' ? socket : undefined;
}

/** Bytes before a frame's payload of `n` bytes: the header, and the mask on a client's frame. */
export function payloadOffset(n: number, masked: boolean): number {
  return (n < 126 ? 2 : n < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

/**
 * A buffer for one whole frame of `n` payload bytes, the payload to be written at
 * `payloadOffset(n, masked)` and the frame then sent with `writeFrame`: the spare buffer when it
 * is free and this size, else a new one.
 */
export function frameBuffer(n: number, masked: boolean): Buffer {
  const size = payloadOffset(n, masked) + n;
  const out = spare;
  if (out === null || out.length !== size) return Buffer.allocUnsafe(size);
  spare = null;
  return out;
}

/** Where a message of `n` bytes is written: a frame buffer, at the offset its header leaves. */
export interface FrameSink {
  buffer(n: number): Buffer;
  offset(n: number): number;
}
/** A server's frame (unmasked), for `writeFrame(…, false)`. */
export const SERVER_FRAME: FrameSink = { buffer: (n) => frameBuffer(n, false), offset: (n) => payloadOffset(n, false) };
/** A client's frame (room for the masking key), for `writeFrame(…, true)`. */
export const CLIENT_FRAME: FrameSink = { buffer: (n) => frameBuffer(n, true), offset: (n) => payloadOffset(n, true) };

/** A data frame's first `h` header bytes (FIN, opcode, the length of `n` in its size class; no mask). */
function putHeader(out: Buffer, opcode: DataOpcode, n: number, h: number): void {
  out[0] = 0x80 | opcode;
  if (h === 2) out[1] = n;
  else if (h === 4) {
    out[1] = 126;
    out[2] = n >>> 8;
    out[3] = n & 0xff;
  } else {
    out[1] = 127;
    out[2] = out[3] = 0;
    out.writeUIntBE(n, 4, 6);
  }
}

/** Masking keys, 2048 at a time from the CSPRNG (RFC 6455 5.3: unpredictable, one per frame). */
const maskPool = Buffer.alloc(8192);
let maskAt = maskPool.length;

/**
 * Send a frame whose payload is already in place in `out` (from `frameBuffer` or a FrameSink):
 * the header is filled in, a client's payload masked in place, and `out` written at once. The
 * caller checked that the socket's WebSocket is OPEN.
 */
export function writeFrame(socket: Duplex, out: Buffer, opcode: DataOpcode, masked: boolean, cb?: (err?: Error | null) => void): void {
  // The payload length from the buffer's: the three header sizes leave no length ambiguous.
  const t = masked ? out.length - 4 : out.length;
  const h = t <= 127 ? 2 : t <= 65539 ? 4 : 10;
  const n = t - h;
  putHeader(out, opcode, n, h);
  if (masked) {
    if (maskAt === maskPool.length) {
      randomFillSync(maskPool);
      maskAt = 0;
    }
    const m0 = (out[h] = maskPool[maskAt]!);
    const m1 = (out[h + 1] = maskPool[maskAt + 1]!);
    const m2 = (out[h + 2] = maskPool[maskAt + 2]!);
    const m3 = (out[h + 3] = maskPool[maskAt + 3]!);
    maskAt += 4;
    out[1] |= 0x80;
    const p = h + 4;
    let i = 0;
    for (const whole = n & ~3; i < whole; i += 4) {
      out[p + i] ^= m0;
      out[p + i + 1] ^= m1;
      out[p + i + 2] ^= m2;
      out[p + i + 3] ^= m3;
    }
    for (; i < n; i++) out[p + i] ^= out[h + (i & 3)]!;
  }
  socket.write(out, cb);
  // Nothing left in the socket's queue: this write went out synchronously, `out` is free.
  if (socket.writableLength === 0) spare = out;
}

/** One unfragmented, unmasked data frame carrying `payload`. The caller checked that `ws` is OPEN. */
export function writeDataFrame(socket: Duplex, opcode: DataOpcode, payload: Uint8Array, cb?: (err?: Error | null) => void): void {
  const n = payload.length;
  if (n > MAX_COPY) {
    const h = payloadOffset(n, false);
    const head = Buffer.allocUnsafe(h);
    putHeader(head, opcode, n, h);
    socket.cork();
    socket.write(head);
    socket.write(payload, cb);
    socket.uncork();
    return;
  }
  const out = frameBuffer(n, false);
  out.set(payload, payloadOffset(n, false));
  writeFrame(socket, out, opcode, false, cb);
}

/** One data frame: written to `raw` when the route has it (`directSocket`), else through `ws.send`. The caller checked that `ws` is OPEN. */
export function sendDataFrame(ws: WsSender, raw: Duplex | undefined, opcode: DataOpcode, payload: Buffer, cb?: (err?: Error | null) => void): void {
  if (raw) writeDataFrame(raw, opcode, payload, cb);
  else ws.send(payload, opcode === OPCODE_BINARY ? BINARY : TEXT, cb);
}
