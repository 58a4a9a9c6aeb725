// A server's WebSocket data frames written straight to the connection's socket (issue 20).
//
// `ws`'s send builds two option objects per message (one with a computed symbol key, which V8
// stores through a runtime call), a header buffer of its own, and corks the socket to hand header
// and payload to the kernel as one writev. An audio frame is a few hundred bytes: copying header
// and payload into one buffer and writing it once costs less, in JavaScript, in Node's stream code
// and in the kernel.
//
// Only where `ws` itself would write at once and unchanged: the connection is open (a close frame
// has not been sent), no extension was negotiated (per-message deflate queues and compresses), and
// the frame goes from server to client (no mask). `ws` writes its own frames (control, text through
// `ws.send`) synchronously to the same socket, so the order on the wire is the order of the calls.
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
 * same upgrade, server side, no extension), else undefined: send through `ws`.
 */
export function directSocket(ws: WebSocket, socket: Duplex): Duplex | undefined {
  return ws.extensions === '' ? socket : undefined;
}

/** One unfragmented, unmasked data frame carrying `payload`. The caller checked that `ws` is OPEN. */
export function writeDataFrame(socket: Duplex, opcode: DataOpcode, payload: Uint8Array, cb?: (err?: Error | null) => void): void {
  const n = payload.length;
  const h = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const size = n > MAX_COPY ? h : h + n;
  let out = spare;
  if (out === null || out.length !== size) out = Buffer.allocUnsafe(size);
  else spare = null;
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
  if (n > MAX_COPY) {
    socket.cork();
    socket.write(out);
    socket.write(payload, cb);
    socket.uncork();
    return;
  }
  out.set(payload, h);
  socket.write(out, cb);
  // Nothing left in the socket's queue: this write went out synchronously, `out` is free.
  if (socket.writableLength === 0) spare = out;
}

/** One data frame: written to `raw` when the route has it (`directSocket`), else through `ws.send`. The caller checked that `ws` is OPEN. */
export function sendDataFrame(ws: WsSender, raw: Duplex | undefined, opcode: DataOpcode, payload: Buffer, cb?: (err?: Error | null) => void): void {
  if (raw) writeDataFrame(raw, opcode, payload, cb);
  else ws.send(payload, opcode === OPCODE_BINARY ? BINARY : TEXT, cb);
}
