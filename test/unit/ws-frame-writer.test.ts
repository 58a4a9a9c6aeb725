// Data frames written straight to a server socket (src/http/ws-frame-writer.ts), read by a real
// `ws` client on loopback: every length class of the header, both opcodes, the order against
// frames `ws` writes itself, write callbacks, and no direct socket where an extension was agreed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { OPCODE_BINARY, OPCODE_TEXT, directSocket, sendDataFrame, writeDataFrame } from '../../src/http/ws-frame-writer.js';

interface Pair {
  server: WebSocket;
  raw: Duplex | undefined;
  client: WebSocket;
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
  await new Promise((r, j) => client.once('open', r).once('error', j));
  const { ws, raw } = await accepted;
  return {
    server: ws,
    raw,
    client,
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

test('a frame buffer is reused only after its write finished: frames queued behind a full socket keep their bytes', { timeout: 20_000 }, async () => {
  const p = await pair();
  try {
    // 8 bursts of 5 000 frames, written while the client (same process) cannot read: the first
    // frames go to the kernel at once (their buffer is reused), later ones queue in the socket.
    const bursts = 8;
    const per = 5000;
    const got = collect(p.client, bursts * per);
    const frame = Buffer.alloc(320);
    let queued = 0;
    for (let b = 0; b < bursts; b++) {
      for (let i = 0; i < per; i++) {
        const k = b * per + i;
        frame.writeUInt32BE(k, 0);
        frame.fill(k & 0xff, 4);
        writeDataFrame(p.raw!, OPCODE_BINARY, frame);
        if (p.raw!.writableLength > 0) queued++;
      }
      await new Promise((r) => setImmediate(r));
    }
    // Both cases covered: writes that went out at once (their buffer reused) and queued ones.
    assert.ok(queued > 0 && queued < bursts * per, `${queued} of ${bursts * per} writes queued`);
    const frames = await got;
    for (const [k, f] of frames.entries()) {
      assert.equal(f.data.length, 320);
      assert.equal(f.data.readUInt32BE(0), k, `frame ${k}: index`);
      assert.ok(f.data.subarray(4).every((x) => x === (k & 0xff)), `frame ${k}: payload`);
    }
  } finally {
    await p.close();
  }
});

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
