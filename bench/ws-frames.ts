// A Twilio `media` message (160 B of μ-law, ~300 B of JSON) sent as a WebSocket text frame, by
// `ws`'s own send (the peer) and by callchart's frame writer (src/http/ws-frame-writer.ts), in one
// run, rounds interleaved, medians:
//
//   npx tsx bench/ws-frames.ts        (WS_FRAMES_SOCKETS, WS_FRAMES_ROUNDS, WS_FRAMES_PER_SOCKET)
//
// - client side (masked): what `call.stream()` sends to a bot. `ws.send` (the message built
//   into a buffer, then masked by ws into a second one) against the message built straight into
//   a masked frame buffer (CLIENT_FRAME) and written once (writeFrame).
// - server side (unmasked): what `engine.mediaStreams()` sends back. `ws.send` against the message
//   built into a buffer then copied into a frame (writeDataFrame), and built straight into the
//   frame buffer (SERVER_FRAME + writeFrame).
//
// The sending process's CPU (user + kernel, so loopback TCP delivery included) per message; the
// reading ends live in a child process, where `ws` parses every frame (a malformed or unmasked one
// closes the connection) and counts every message: a method that loses or garbles frames fails the
// run instead of looking fast.
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { CLIENT_FRAME, OPCODE_TEXT, SERVER_FRAME, directSocket, writeDataFrame, writeFrame } from '../src/http/ws-frame-writer.js';
import { BotMediaTemplate } from '../src/streams/fast-media.js';
import { PlatformEncoder, makeSid } from '../src/streams/protocol.js';
import { forkRpc, serveRpc } from './lib/rpc.js';
import { printTable, median } from './table.js';

const SOCKETS = Number(process.env.WS_FRAMES_SOCKETS ?? 200);
const ROUNDS = Number(process.env.WS_FRAMES_ROUNDS ?? 8);
/** Messages per socket per batch (one batch per method per round), a macrotask between sweeps. */
const PER_SOCKET = Number(process.env.WS_FRAMES_PER_SOCKET ?? 200);
const LO = '127.0.0.1';
const TEXT = { binary: false } as const;
const thisFile = fileURLToPath(import.meta.url);

/** The reading ends: a ws server for the client side's frames and SOCKETS clients of the parent's server. */
async function readerRole(): Promise<void> {
  let n = 0;
  const wss = new WebSocketServer({ host: LO, port: 0, perMessageDeflate: false });
  wss.on('connection', (ws) => ws.on('message', () => n++));
  await new Promise((r) => wss.once('listening', r));
  serveRpc({
    connect: async ({ port }: { port: number }) => {
      for (let i = 0; i < SOCKETS; i++) {
        const c = new WebSocket(`ws://${LO}:${port}/`, { perMessageDeflate: false });
        c.on('message', () => n++);
        await new Promise((r, j) => c.once('open', r).once('error', j));
      }
    },
    count: () => n,
  });
  process.send!({ ready: { port: (wss.address() as AddressInfo).port } });
}

async function main(): Promise<void> {
  const reader = forkRpc(thisFile, ['--role=reader'], { cwd: path.resolve(path.dirname(thisFile), '..') });
  const ready = (await reader.ready) as { port: number };

  // Client side: SOCKETS clients of the reader's server, each with its upgraded socket.
  const clients: Array<{ ws: WebSocket; raw: Duplex; enc: PlatformEncoder }> = [];
  for (let i = 0; i < SOCKETS; i++) {
    const ws = new WebSocket(`ws://${LO}:${ready.port}/`, { perMessageDeflate: false });
    let upgraded: Duplex | undefined;
    ws.once('upgrade', (res: IncomingMessage) => (upgraded = res.socket));
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    clients.push({ ws, raw: directSocket(ws, upgraded!)!, enc: new PlatformEncoder(makeSid('MZ')) });
  }
  // Server side: SOCKETS connections the reader opens to this process's server.
  const servers: Array<{ ws: WebSocket; raw: Duplex; bot: BotMediaTemplate }> = [];
  const wss = new WebSocketServer({ host: LO, port: 0, perMessageDeflate: false });
  wss.on('connection', (ws, req) => servers.push({ ws, raw: directSocket(ws, req.socket)!, bot: new BotMediaTemplate(makeSid('MZ')) }));
  await new Promise((r) => wss.once('listening', r));
  await reader.call('connect', { port: (wss.address() as AddressInfo).port });
  if (servers.length !== SOCKETS || clients.some((c) => !c.raw) || servers.some((s) => !s.raw)) throw new Error('sockets not ready');

  const ulaw = Buffer.alloc(160);
  for (let i = 0; i < ulaw.length; i++) ulaw[i] = (i * 37) & 0xff;
  const methods = {
    'client: ws.send (peer)': (i: number, r: number) => clients[i]!.ws.send(clients[i]!.enc.mediaBytes('inbound', ulaw, r * 20), TEXT),
    'client: CLIENT_FRAME + writeFrame': (i: number, r: number) => {
      const c = clients[i]!;
      writeFrame(c.raw, c.enc.mediaBytes('inbound', ulaw, r * 20, CLIENT_FRAME), OPCODE_TEXT, true);
    },
    'server: ws.send (peer)': (i: number) => servers[i]!.ws.send(servers[i]!.bot.build(ulaw), TEXT),
    'server: build + writeDataFrame (copy)': (i: number) => writeDataFrame(servers[i]!.raw, OPCODE_TEXT, servers[i]!.bot.build(ulaw)),
    'server: SERVER_FRAME + writeFrame': (i: number) => {
      const s = servers[i]!;
      writeFrame(s.raw, s.bot.build(ulaw, SERVER_FRAME), OPCODE_TEXT, false);
    },
  } as const;
  type Method = keyof typeof methods;
  const names = Object.keys(methods) as Method[];

  const countNow = () => reader.call<number>('count');
  let expected = await countNow();
  /** Until the reader has every message so far (a lost frame fails the run). */
  async function drained(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const n = await countNow();
      if (n === expected) return;
      if (Date.now() > deadline) throw new Error(`reader got ${n} of ${expected} messages`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  async function batch(m: Method): Promise<number> {
    const send = methods[m];
    await drained();
    const t0 = process.cpuUsage();
    for (let r = 0; r < PER_SOCKET; r++) {
      for (let i = 0; i < SOCKETS; i++) send(i, r);
      await new Promise((res) => setImmediate(res));
    }
    const d = process.cpuUsage(t0);
    expected += SOCKETS * PER_SOCKET;
    return (d.user + d.system) / (SOCKETS * PER_SOCKET);
  }

  process.stdout.write(`\n### ws-frames: ${SOCKETS} sockets, ${ROUNDS} rounds of ${SOCKETS * PER_SOCKET} messages per method\n`);
  for (const m of names) await batch(m); // warm-up
  const got = new Map<Method, number[]>(names.map((m) => [m, []]));
  for (let r = 0; r < ROUNDS; r++) {
    // Each round in another order, so a drift of the box over the run falls on every method.
    const order = r % 2 ? [...names].reverse() : names;
    for (const m of order) got.get(m)!.push(await batch(m));
    process.stderr.write(`[bench] ws-frames: round ${r + 1}/${ROUNDS}\n`);
  }
  await drained();
  const peerOf = (m: Method) => got.get(m.startsWith('client') ? 'client: ws.send (peer)' : 'server: ws.send (peer)')!;
  printTable(
    'Sender CPU per `media` message (µs, user + kernel; the reader counted every message). The box drifts between rounds more than the methods differ: the last column pairs each round\'s batch with ws.send\'s batch of the same round',
    ['method', 'median µs', 'min–max µs', 'median of rounds, vs ws.send in the same round'],
    names.map((m) => {
      const a = got.get(m)!;
      const peer = peerOf(m);
      return [m, median(a).toFixed(2), `${Math.min(...a).toFixed(2)}–${Math.max(...a).toFixed(2)}`, `${Math.round(median(a.map((x, r) => x / peer[r]!)) * 100)} %`];
    }),
  );
  for (const c of clients) c.ws.terminate();
  for (const s of servers) s.ws.terminate();
  wss.close();
  await reader.stop();
}

if (process.argv.includes('--role=reader')) void readerRole();
else
  main().catch((err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
