// The SIP edge under hostile input (issue 13, findings 2, 4 and 5), measured the way an attacker on
// loopback sees it. Not part of `npm run bench`; run it alone (it spawns its own server):
//
//   npx tsx bench/sip-edge.ts            # every part
//   BENCH_EDGE_PARTS=parse,bytes npx tsx bench/sip-edge.ts
//
// parts:
//   parse    in-process: parseMessage() time of a 60 KB header folded into 1-byte continuation lines
//            against the same value unfolded (the quadratic folding of finding 5)
//   bytes    against `callchart serve` (child process, tsx): bytes answered per byte sent for hostile
//            OPTIONS (20 000 0xFF bytes in From, in Call-ID; a bare CR in Call-ID) (finding 4)
//   reflect  one INVITE whose Via names a third party (maddr=, received=): bytes that third party gets
//            within BENCH_EDGE_REFLECT_S seconds (default 36: 64*T1 of 200 retransmissions) (finding 2)
//   folded   OPTIONS latency (p50/p99, unanswered) at 10/s while 100 folded 60 KB datagrams/s arrive
//            for BENCH_EDGE_FOLDED_S seconds (default 10) (finding 5)
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMessage } from '../src/sip/codec/message.js';
import { Tail, exited, freeUdpPort, sleep, terminate, track, udpPortBound, waitUntil } from '../test/interop/helpers/procs.js';
import { percentile, printTable, progress, type Cell } from './table.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PARTS = (process.env.BENCH_EDGE_PARTS ?? 'parse,bytes,reflect,folded').split(',').map((s) => s.trim());
const REFLECT_S = Number(process.env.BENCH_EDGE_REFLECT_S ?? 36);
const FOLDED_S = Number(process.env.BENCH_EDGE_FOLDED_S ?? 10);

const crlf = (lines: string[]) => lines.join('\r\n');

function options(port: number, clientPort: number, over: { from?: Buffer; callId?: Buffer; via?: string; extra?: Buffer } = {}): Buffer {
  const branch = `z9hG4bK${Math.random().toString(36).slice(2)}`;
  return Buffer.concat([
    Buffer.from(
      crlf([
        `OPTIONS sip:callchart@127.0.0.1:${port} SIP/2.0`,
        `Via: ${over.via ?? `SIP/2.0/UDP 127.0.0.1:${clientPort};branch=${branch};rport`}`,
        'Max-Forwards: 70',
        '',
      ]),
    ),
    Buffer.from('From: "'),
    over.from ?? Buffer.from('a'),
    Buffer.from(`" <sip:a@127.0.0.1:${clientPort}>;tag=1\r\nTo: <sip:callchart@127.0.0.1:${port}>\r\nCall-ID: `),
    over.callId ?? Buffer.from(`edge-${Math.random().toString(36).slice(2)}`),
    Buffer.from('\r\nCSeq: 1 OPTIONS\r\n'),
    over.extra ?? Buffer.alloc(0),
    Buffer.from('Content-Length: 0\r\n\r\n'),
  ]);
}

function foldedOptions(port: number, clientPort: number, valueBytes: number, folded: boolean): Buffer {
  // 'Subject: x' then valueBytes more bytes, as `\r\n y` continuation lines when folded.
  const value = folded ? '\r\n y'.repeat(Math.ceil(valueBytes / 4)) : 'y'.repeat(valueBytes);
  return options(port, clientPort, { extra: Buffer.from(`Subject: x${value}\r\n`) });
}

function partParse(): void {
  const rows: Cell[][] = [];
  // Caps lifted: the cost of unfolding itself, not of refusing at the 8 KiB field cap.
  const lifted = { limits: { maxHeaderFields: 10_000, maxVias: 10_000, maxHeaderBytes: 1 << 20, maxHeadBytes: 1 << 20 } };
  const cases = [
    { name: '60 KB value, one line', folded: false, opts: undefined },
    { name: '60 KB value, 1-byte folded lines', folded: true, opts: undefined },
    { name: '60 KB value, 1-byte folded lines, caps lifted', folded: true, opts: lifted },
  ];
  for (const c of cases) {
    const buf = foldedOptions(5060, 5070, 60_000, c.folded);
    const r = parseMessage(buf, c.opts);
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 1000 || n < 5) {
      parseMessage(buf, c.opts);
      n++;
    }
    const ms = (performance.now() - t0) / n;
    rows.push([c.name, buf.length, ms.toFixed(3), n, r.ok ? 'parsed' : `${r.status} ${r.reason}`]);
  }
  printTable('parseMessage() of a 60 KB header value', ['input', 'bytes', 'ms per parse', 'runs', 'result'], rows);
}

interface Server {
  port: number;
  pid: number;
  child: ChildProcess;
  out: Tail;
  stop(): Promise<void>;
}

async function startServer(): Promise<Server> {
  const port = await freeUdpPort();
  const out = new Tail(16 * 1024);
  const args = ['--import', 'tsx', 'src/cli.ts', 'serve', '--host', '127.0.0.1', '--sip-port', String(port), '--ws-port', '0', '--log-level', 'warn', '--rtp-ports', '30000-30999'];
  const child = track(spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }));
  child.stdout!.on('data', (d) => out.push(d));
  child.stderr!.on('data', (d) => out.push(d));
  await waitUntil(() => udpPortBound(port) || exited(child), 20_000, `callchart to bind udp/${port}`);
  if (exited(child)) throw new Error(`callchart exited: ${out.toString()}`);
  return { port, pid: child.pid!, child, out, stop: () => terminate(child, 'SIGTERM', 5000) };
}

interface Listener {
  sock: dgram.Socket;
  port: number;
  bytes: number;
  datagrams: Buffer[];
}

async function listen(address: string): Promise<Listener> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, address, () => r()));
  const l: Listener = { sock, port: sock.address().port, bytes: 0, datagrams: [] };
  sock.on('message', (b) => {
    l.bytes += b.length;
    l.datagrams.push(b);
  });
  return l;
}

async function partBytes(srv: Server): Promise<void> {
  const ff = Buffer.alloc(20_000, 0xff);
  const cases: Array<{ name: string; make: (client: number) => Buffer }> = [
    { name: 'OPTIONS, 20 000 0xFF bytes in the From display name', make: (c) => options(srv.port, c, { from: ff }) },
    { name: 'OPTIONS, 20 000 0xFF bytes in Call-ID', make: (c) => options(srv.port, c, { callId: Buffer.concat([Buffer.from('x'), ff]) }) },
    { name: 'OPTIONS, 6 000 0xFF bytes in the From display name', make: (c) => options(srv.port, c, { from: Buffer.alloc(6000, 0xff) }) },
    { name: 'OPTIONS, 6 000 0xFF bytes in Call-ID', make: (c) => options(srv.port, c, { callId: Buffer.concat([Buffer.from('x'), Buffer.alloc(6000, 0xff)]) }) },
    { name: 'OPTIONS, Subject "a\\rContact: <sip:evil@192.0.2.66>"', make: (c) => options(srv.port, c, { extra: Buffer.from('Subject: a\rContact: <sip:evil@192.0.2.66>\r\n') }) },
    {
      name: 'OPTIONS, Call-ID "x\\rContact: <sip:evil@192.0.2.66>"',
      make: (c) => options(srv.port, c, { callId: Buffer.from('x\rContact: <sip:evil@192.0.2.66>') }),
    },
  ];
  const rows: Cell[][] = [];
  for (const k of cases) {
    const l = await listen('127.0.0.1');
    const req = k.make(l.port);
    l.sock.send(req, srv.port, '127.0.0.1');
    await sleep(1000);
    const first = l.datagrams[0];
    const status = first ? /^SIP\/2\.0 (\d{3}[^\r\n]*)/.exec(first.toString('latin1'))?.[1] ?? '?' : 'no answer';
    const injected = l.datagrams.some((d) => d.includes('\rContact: <sip:evil'));
    rows.push([k.name, req.length, l.bytes, (l.bytes / req.length).toFixed(2), status, injected ? 'YES' : 'no']);
    l.sock.close();
  }
  printTable('Bytes answered per hostile request (one request, answers collected for 1 s)', ['request', 'bytes in', 'bytes out', 'out/in', 'first answer', 'bare-CR header echoed'], rows);
}

function invite(port: number, clientPort: number, via: string): Buffer {
  const sdp = crlf(['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', '']);
  return Buffer.from(
    crlf([
      `INVITE sip:callchart@127.0.0.1:${port} SIP/2.0`,
      `Via: ${via}`,
      'Max-Forwards: 70',
      `From: <sip:a@127.0.0.1:${clientPort}>;tag=1`,
      `To: <sip:callchart@127.0.0.1:${port}>`,
      `Call-ID: reflect-${Math.random().toString(36).slice(2)}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:a@127.0.0.1:${clientPort}>`,
      'Content-Type: application/sdp',
      `Content-Length: ${Buffer.byteLength(sdp)}`,
      '',
      sdp,
    ]),
  );
}

async function partReflect(srv: Server): Promise<void> {
  const rows: Cell[][] = [];
  const victims = await Promise.all([listen('127.0.0.3'), listen('127.0.0.4')]);
  const sender = await listen('127.0.0.1');
  const [maddrVictim, receivedVictim] = victims as [Listener, Listener];
  const reqs = [
    { name: 'Via maddr=127.0.0.3', victim: maddrVictim, buf: invite(srv.port, sender.port, `SIP/2.0/UDP 127.0.0.1:${maddrVictim.port};branch=z9hG4bKm${Date.now()};maddr=127.0.0.3`) },
    {
      name: 'Via host = source, received=127.0.0.4',
      victim: receivedVictim,
      buf: invite(srv.port, sender.port, `SIP/2.0/UDP 127.0.0.1:${receivedVictim.port};branch=z9hG4bKr${Date.now()};received=127.0.0.4`),
    },
  ];
  for (const r of reqs) sender.sock.send(r.buf, srv.port, '127.0.0.1');
  progress(`reflect: waiting ${REFLECT_S} s for retransmissions`);
  await sleep(REFLECT_S * 1000);
  for (const r of reqs) {
    rows.push([r.name, r.buf.length, r.victim.bytes, r.victim.datagrams.length, (r.victim.bytes / r.buf.length).toFixed(2), sender.bytes]);
  }
  printTable(`One INVITE naming a third party in its Via (never ACKed), ${REFLECT_S} s`, ['Via', 'bytes in', 'bytes to third party', 'datagrams', 'ratio', 'bytes to the real source (both INVITEs)'], rows);
  for (const l of [...victims, sender]) l.sock.close();
}

async function partFolded(srv: Server): Promise<void> {
  const attacker = await listen('127.0.0.1');
  const probe = await listen('127.0.0.1');
  const folded = foldedOptions(srv.port, attacker.port, 60_000, true);
  const sentAt = new Map<string, number>();
  const rtt: number[] = [];
  probe.sock.on('message', (b) => {
    const id = /Call-ID: (\S+)/i.exec(b.toString('latin1'))?.[1];
    const t = id ? sentAt.get(id) : undefined;
    if (id && t !== undefined) {
      rtt.push(performance.now() - t);
      sentAt.delete(id);
    }
  });
  const until = Date.now() + FOLDED_S * 1000;
  let probes = 0;
  const flood = setInterval(() => {
    for (let i = 0; i < 10; i++) attacker.sock.send(folded, srv.port, '127.0.0.1');
  }, 100);
  while (Date.now() < until) {
    const id = `probe-${probes++}`;
    sentAt.set(id, performance.now());
    probe.sock.send(options(srv.port, probe.port, { callId: Buffer.from(id) }), srv.port, '127.0.0.1');
    await sleep(100);
  }
  clearInterval(flood);
  await sleep(3000);
  printTable(
    `OPTIONS at 10/s during 100 folded 60 KB datagrams/s, ${FOLDED_S} s`,
    ['probes', 'answered', 'unanswered %', 'p50 ms', 'p99 ms'],
    [[probes, rtt.length, ((100 * (probes - rtt.length)) / probes).toFixed(1), rtt.length ? percentile(rtt, 50).toFixed(1) : '-', rtt.length ? percentile(rtt, 99).toFixed(1) : '-']],
  );
  attacker.sock.close();
  probe.sock.close();
}

async function main(): Promise<void> {
  if (PARTS.includes('parse')) partParse();
  const live = PARTS.filter((p) => p !== 'parse');
  if (live.length === 0) return;
  const srv = await startServer();
  try {
    if (live.includes('bytes')) await partBytes(srv);
    if (live.includes('reflect')) await partReflect(srv);
    if (live.includes('folded')) await partFolded(srv);
  } finally {
    await srv.stop();
  }
}

await main();
