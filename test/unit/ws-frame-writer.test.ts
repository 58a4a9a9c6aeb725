// Data frames written straight to a socket (src/http/ws-frame-writer.ts): a server's, read by a
// real `ws` client on loopback, and a client's (masked), read by a real `ws` server, over TCP and
// TLS: every length class of the header, both opcodes, the order against frames `ws` writes
// itself, write callbacks, buffer reuse, and no direct socket where an extension was agreed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import {
  CLIENT_FRAME,
  OPCODE_BINARY,
  OPCODE_TEXT,
  directSocket,
  frameBuffer,
  payloadOffset,
  sendDataFrame,
  writeDataFrame,
  writeFrame,
} from '../../src/http/ws-frame-writer.js';
import { selfSignedCert } from '../helpers/tls-cert.js';

interface Pair {
  server: WebSocket;
  raw: Duplex | undefined;
  client: WebSocket;
  /** The client's socket: paused, it stops reading, so the server's writes queue. */
  clientSocket: Duplex;
  close(): Promise<void>;
}

/** A server and a client on loopback; `deflate` lets them agree on permessage-deflate. */
async function pair(deflate = false): Promise<Pair> {
  const srv = http.createServer();
  const wss = new WebSocketServer({ server: srv, perMessageDeflate: deflate });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const accepted = new Promise<{ ws: WebSocket; raw: Duplex | undefined }>((r) =>
    wss.once('connection', (ws, req) => r({ ws, raw: directSocket(ws, req.socket) })),
  );
  const client = new WebSocket(`ws://127.0.0.1:${(srv.address() as AddressInfo).port}/`, { perMessageDeflate: deflate });
  let clientSocket: Duplex | undefined;
  client.once('upgrade', (res: IncomingMessage) => (clientSocket = res.socket));
  await new Promise((r, j) => client.once('open', r).once('error', j));
  const { ws, raw } = await accepted;
  return {
    server: ws,
    raw,
    client,
    clientSocket: clientSocket!,
    async close() {
      client.terminate();
      wss.close();
      await new Promise((r) => srv.close(r));
    },
  };
}

function collect(ws: WebSocket, n: number): Promise<Array<{ data: Buffer; isBinary: boolean }>> {
  const got: Array<{ data: Buffer; isBinary: boolean }> = [];
  return new Promise((resolve, reject) => {
    ws.on('message', (data, isBinary) => {
      got.push({ data: data as Buffer, isBinary });
      if (got.length === n) resolve(got);
    });
    // A malformed frame makes the client close the connection: fail, do not wait.
    ws.once('close', (code) => reject(new Error(`client closed (${code}) after ${got.length} of ${n} frames`)));
  });
}

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

test('every payload length class arrives intact, binary and text, in order with frames ws sends', { timeout: 10_000 }, async () => {
  const p = await pair();
  try {
    assert.ok(p.raw, 'no extension agreed: the socket may be written directly');
    // 2-byte header up to 125, 4-byte up to 65535, 10-byte above; 16 KiB + 1 takes the two-write path.
    const sizes = [0, 1, 125, 126, 320, 640, 16 * 1024, 16 * 1024 + 1, 65535, 65536, 200_000];
    const want: Array<{ data: Buffer; isBinary: boolean }> = [];
    const got = collect(p.client, sizes.length * 2 + 1);
    for (const [i, n] of sizes.entries()) {
      const b = bytes(n, i);
      writeDataFrame(p.raw, OPCODE_BINARY, b);
      want.push({ data: b, isBinary: true });
      // Interleaved with a frame of ws's own: the order on the wire is the order of the calls.
      p.server.send(`ws ${i}`);
      want.push({ data: Buffer.from(`ws ${i}`), isBinary: false });
    }
    const text = Buffer.from(JSON.stringify({ event: 'media', media: { payload: 'x'.repeat(300) } }));
    writeDataFrame(p.raw, OPCODE_TEXT, text);
    want.push({ data: text, isBinary: false });
    const frames = await got;
    assert.equal(frames.length, want.length);
    for (const [i, f] of frames.entries()) {
      assert.equal(f.isBinary, want[i]!.isBinary, `frame ${i}: opcode`);
      assert.ok(f.data.equals(want[i]!.data), `frame ${i}: ${want[i]!.data.length} bytes, got ${f.data.length}`);
    }
  } finally {
    await p.close();
  }
});

test('the write callback runs once the socket has written the frame, after the previous ones', { timeout: 10_000 }, async () => {
  const p = await pair();
  try {
    const done: number[] = [];
    const all = new Promise<void>((r) => {
      for (let i = 0; i < 20; i++) {
        writeDataFrame(p.raw!, OPCODE_BINARY, bytes(i % 2 ? 320 : 70_000, i), (err) => {
          assert.ifError(err);
          done.push(i);
          if (done.length === 20) r();
        });
      }
    });
    const got = collect(p.client, 20);
    await all;
    assert.deepEqual(done, [...Array(20).keys()]);
    assert.deepEqual((await got).map((f) => f.data.length), [...Array(20).keys()].map((i) => (i % 2 ? 320 : 70_000)));
  } finally {
    await p.close();
  }
});

/**
 * Frames written in rounds while `reader` does not read: the first writes of a round go to the
 * kernel at once (their buffer is then reused for the next frame), and once the kernel's buffers
 * are full, writes queue in the socket (their buffers must not be reused). Each round writes until
 * 1 000 writes have queued, then lets the reader drain the socket. Returns how many frames were
 * written and, per round, how many went out at once.
 */
async function writeRounds(raw: Duplex, reader: Duplex, write: (k: number) => void): Promise<{ total: number; immediate: number[] }> {
  let k = 0;
  const immediate: number[] = [];
  for (let round = 0; round < 3; round++) {
    reader.pause();
    let queued = 0;
    let now = 0;
    // The cap is past any loopback buffer the kernel may grow to (tens of MB).
    for (let i = 0; queued < 1000 && i < 300_000; i++, k++) {
      write(k);
      if (raw.writableLength > 0) queued++;
      else now++;
    }
    assert.ok(queued >= 1000, `round ${round}: only ${queued} writes queued`);
    immediate.push(now);
    reader.resume();
    await new Promise((r) => raw.once('drain', r));
  }
  return { total: k, immediate };
}

/** The frames of writeRounds, checked: index and payload of every one, in order. */
function checkFrames(frames: Array<{ data: Buffer }>, size: number): void {
  for (const [k, f] of frames.entries()) {
    assert.equal(f.data.length, size);
    assert.equal(f.data.readUInt32BE(0), k, `frame ${k}: index`);
    assert.ok(f.data.subarray(4).every((x) => x === (k & 0xff)), `frame ${k}: payload`);
  }
}

test('a frame buffer is reused only after its write finished: frames queued behind a full socket keep their bytes', { timeout: 30_000 }, async () => {
  const p = await pair();
  try {
    const frame = Buffer.alloc(320);
    const got: Array<{ data: Buffer }> = [];
    p.client.on('message', (data) => got.push({ data: data as Buffer }));
    const { total, immediate } = await writeRounds(p.raw!, p.clientSocket, (k) => {
      frame.writeUInt32BE(k, 0);
      frame.fill(k & 0xff, 4);
      writeDataFrame(p.raw!, OPCODE_BINARY, frame);
    });
    // Every round had writes that went out at once (their buffer reused) before the queued ones.
    assert.ok(immediate.every((n) => n > 0), `writes that went out at once, per round: ${immediate.join(', ')}`);
    await waitFor(() => got.length >= total, `${total} frames`);
    assert.equal(got.length, total);
    checkFrames(got, 320);
  } finally {
    await p.close();
  }
});

/** Poll until `ok()` (frames arrive over many event-loop turns). */
async function waitFor(ok: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('with permessage-deflate agreed there is no direct socket: sendDataFrame goes through ws', { timeout: 10_000 }, async () => {
  const p = await pair(true);
  try {
    assert.match(p.server.extensions, /permessage-deflate/);
    assert.equal(p.raw, undefined);
    // sendDataFrame then goes through ws (compressed), binary and text kept apart.
    const got = collect(p.client, 2);
    const audio = bytes(320, 7);
    sendDataFrame(p.server, p.raw, OPCODE_BINARY, audio);
    sendDataFrame(p.server, p.raw, OPCODE_TEXT, Buffer.from('{"event":"mark"}'));
    const [a, t] = await got;
    assert.ok(a!.isBinary && a!.data.equals(audio));
    assert.ok(!t!.isBinary && t!.data.toString() === '{"event":"mark"}');
  } finally {
    await p.close();
  }
});

/** A client's frame of `payload` written the way call.stream() writes: into a masked frame buffer, then writeFrame. */
function writeClientFrame(raw: Duplex, opcode: typeof OPCODE_BINARY | typeof OPCODE_TEXT, payload: Buffer): void {
  const out = CLIENT_FRAME.buffer(payload.length);
  payload.copy(out, CLIENT_FRAME.offset(payload.length));
  writeFrame(raw, out, opcode, true);
}

interface ClientPair {
  /** The server's end (a real ws server). */
  server: WebSocket;
  client: WebSocket;
  /** The client's upgraded socket, as call.stream() takes it. */
  raw: Duplex;
  /** Every byte the server's socket read (its own data listener beside ws's). */
  wire: Buffer[];
  /** The server's socket: paused, it stops reading, so the client's writes queue. */
  serverSocket: Duplex;
  close(): Promise<void>;
}

async function clientPair(tls = false): Promise<ClientPair> {
  const cert = tls ? selfSignedCert() : undefined;
  const srv = cert ? https.createServer(cert) : http.createServer();
  const wss = new WebSocketServer({ server: srv, perMessageDeflate: false });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const wire: Buffer[] = [];
  let serverSocket: Duplex | undefined;
  const accepted = new Promise<WebSocket>((r) =>
    wss.once('connection', (ws, req) => {
      serverSocket = req.socket;
      // The first 4 MiB only: the reuse tests send tens of megabytes.
      let kept = 0;
      req.socket.on('data', (b: Buffer) => {
        if (kept >= 4 * 1024 * 1024) return;
        kept += b.length;
        wire.push(Buffer.from(b));
      });
      r(ws);
    }),
  );
  const url = `${tls ? 'wss' : 'ws'}://127.0.0.1:${(srv.address() as AddressInfo).port}/`;
  const client = new WebSocket(url, { perMessageDeflate: false, rejectUnauthorized: false });
  let upgraded: Duplex | undefined;
  client.once('upgrade', (res: IncomingMessage) => (upgraded = res.socket));
  await new Promise((r, j) => client.once('open', r).once('error', j));
  const server = await accepted;
  const raw = directSocket(client, upgraded!);
  assert.ok(raw, 'no extension agreed: the client socket may be written directly');
  return {
    server,
    client,
    raw,
    wire,
    serverSocket: serverSocket!,
    async close() {
      client.terminate();
      wss.close();
      await new Promise((r) => srv.close(r));
    },
  };
}

/** The frames in `wire` (a client's: masked): each one's mask bit, masking key and unmasked payload. */
function parseClientFrames(wire: Buffer): Array<{ masked: boolean; key: number; payload: Buffer }> {
  const out: Array<{ masked: boolean; key: number; payload: Buffer }> = [];
  let o = 0;
  while (o < wire.length) {
    const b1 = wire[o + 1]!;
    let n = b1 & 0x7f;
    let h = 2;
    if (n === 126) {
      n = wire.readUInt16BE(o + 2);
      h = 4;
    } else if (n === 127) {
      n = Number(wire.readBigUInt64BE(o + 2));
      h = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    const key = masked ? wire.readUInt32BE(o + h) : 0;
    const p = o + h + (masked ? 4 : 0);
    const payload = Buffer.from(wire.subarray(p, p + n));
    if (masked) for (let i = 0; i < n; i++) payload[i]! ^= wire[o + h + (i % 4)]!;
    out.push({ masked, key, payload });
    o = p + n;
  }
  return out;
}

for (const tls of [false, true]) {
  test(`a client's masked frames (${tls ? 'TLS' : 'TCP'}): every length class arrives intact at a ws server, in order with ws's own, each with its own key`, { timeout: 20_000 }, async () => {
    const p = await clientPair(tls);
    try {
      const sizes = [0, 1, 2, 3, 5, 125, 126, 127, 300, 301, 302, 303, 16 * 1024, 65535, 65536, 100_000];
      const want: Array<{ data: Buffer; isBinary: boolean }> = [];
      const got = collect(p.server, sizes.length * 2);
      for (const [i, n] of sizes.entries()) {
        const b = bytes(n, i);
        writeClientFrame(p.raw, i % 2 ? OPCODE_BINARY : OPCODE_TEXT, i % 2 ? b : Buffer.from('t'.repeat(n)));
        want.push({ data: i % 2 ? b : Buffer.from('t'.repeat(n)), isBinary: i % 2 === 1 });
        p.client.send(`ws ${i}`);
        want.push({ data: Buffer.from(`ws ${i}`), isBinary: false });
      }
      const frames = await got;
      for (const [i, f] of frames.entries()) {
        assert.equal(f.isBinary, want[i]!.isBinary, `frame ${i}: opcode`);
        assert.ok(f.data.equals(want[i]!.data), `frame ${i}: ${want[i]!.data.length} bytes, got ${f.data.length}`);
      }
      // On the wire: every frame masked (a ws server closes with 1002 on an unmasked one), and
      // the keys ours chose are not one key reused.
      const onWire = parseClientFrames(Buffer.concat(p.wire));
      assert.equal(onWire.length, frames.length);
      assert.ok(onWire.every((f) => f.masked));
      const ours = onWire.filter((_, i) => i % 2 === 0).map((f) => f.key);
      assert.ok(new Set(ours).size >= ours.length - 1, `masking keys: ${ours.length} frames, ${new Set(ours).size} distinct`);
    } finally {
      await p.close();
    }
  });
}

for (const tls of [false, true]) {
  test(`a client's frame buffer is reused only after its write finished (${tls ? 'TLS' : 'TCP'}): queued frames keep their bytes`, { timeout: 30_000 }, async () => {
    const p = await clientPair(tls);
    try {
      const got: Array<{ data: Buffer }> = [];
      p.server.on('message', (data) => got.push({ data: data as Buffer }));
      const { total, immediate } = await writeRounds(p.raw, p.serverSocket, (k) => {
        const out = frameBuffer(300, true);
        const at = payloadOffset(300, true);
        out.writeUInt32BE(k, at);
        out.fill(k & 0xff, at + 4, at + 300);
        writeFrame(p.raw, out, OPCODE_BINARY, true);
      });
      // Over TCP every round had writes that went out at once (their buffer reused). Over TLS a
      // write stays queued until TLS has written it, so no buffer is reused there; the frames
      // must still arrive intact.
      if (!tls) assert.ok(immediate.every((n) => n > 0), `writes that went out at once, per round: ${immediate.join(', ')}`);
      await waitFor(() => got.length >= total, `${total} frames`);
      assert.equal(got.length, total);
      checkFrames(got, 300);
    } finally {
      await p.close();
    }
  });
}
