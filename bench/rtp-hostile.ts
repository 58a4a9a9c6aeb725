// Hostile RTP against `callchart serve` (the demo app: every SIP call is answered and echoed), as
// issue 13 measured it: (A) a stranger sends one probe to the call's RTP port before the caller
// talks ("RTP bleed"); (B) the SDP c= names a third party that never sends: does it get RTCP?;
// (C) an INVITE with m=audio 65535 (RTCP port 65536): is the process alive 8 s later?
//
//   npx tsx bench/rtp-hostile.ts [tree root] [sip port] [rtp range]
//
// The tree root (default: this checkout) lets the same probe run against another checkout, e.g.
// an export of an older commit (`git archive <commit> | tar -x -C /tmp/old`), for before/after.
// Peers use 127.0.0.5 (all of 127/8 is this host on Linux). Takes ~20 s.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import path from 'node:path';
import os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
const sipPortS = process.argv[3] ?? '45570';
const range = process.argv[4] ?? '44700-44799';
const sipPort = Number(sipPortS);
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'callchart-rtp-hostile-'));
const { RawSip, request } = await import(`${root}/test/helpers/raw-sip.ts`);
const { writeRtp, parseRtp } = await import(`${root}/src/media/rtp.ts`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--host', '127.0.0.1', '--sip-port', sipPortS, '--ws-port', '0', '--rtp-ports', range, '--log-level', 'warn', '--data-dir', dataDir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
let exit: string | null = null;
let stderr = '';
proc.stderr!.on('data', (d) => (stderr += d));
proc.on('exit', (code, sig) => (exit = `exit ${code ?? sig}`));
await sleep(3000);
async function sock(host: string, port = 0) {
  const s = dgram.createSocket('udp4');
  const got = { rtp: 0, other: 0 };
  s.on('message', (m) => (parseRtp(m) ? got.rtp++ : got.other++));
  await new Promise<void>((r) => s.bind(port, host, () => r()));
  return { s, got, port: s.address().port };
}
const sdp = (a: string, p: number) => `v=0\no=x 1 1 IN IP4 ${a}\ns=-\nc=IN IP4 ${a}\nt=0 0\nm=audio ${p} RTP/AVP 0\na=rtpmap:0 PCMU/8000\n`;
const c = await new RawSip().open();
async function call(id: string, body: string) {
  c.send(request('INVITE', sipPort, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': id }, body), sipPort);
  const ok = await c.response((r: any) => r.status === 200 && r.headers.get('Call-ID') === id, 5000);
  const tag = /tag=([^;>\s]+)/.exec(ok.headers.get('To')!)![1];
  c.send(request('ACK', sipPort, c.port, { 'Call-ID': id, To: `<sip:callchart@127.0.0.1:${sipPort}>;tag=${tag}` }), sipPort);
  return { rtpPort: Number(/m=audio (\d+)/.exec(ok.body.toString())![1]), bye: () => c.send(request('BYE', sipPort, c.port, { 'Call-ID': id, CSeq: '2 BYE', To: `<sip:callchart@127.0.0.1:${sipPort}>;tag=${tag}` }), sipPort) };
}
const pkt = (seq: number, ssrc: number) => writeRtp({ marker: false, payloadType: 0, sequenceNumber: seq, timestamp: seq * 160, ssrc }, Buffer.alloc(160, 0x55));

// A. stranger first: one probe from 127.0.0.5, then the caller talks for 1 s from its SDP address.
const caller = await sock('127.0.0.1');
const stranger = await sock('127.0.0.5');
const a = await call('hijack@m', sdp('127.0.0.1', caller.port));
stranger.s.send(pkt(1, 0x6666), a.rtpPort, '127.0.0.1');
await sleep(100);
for (let i = 0; i < 50; i++) {
  caller.s.send(pkt(100 + i, 0x1111), a.rtpPort, '127.0.0.1');
  await sleep(20);
}
await sleep(200);
a.bye();
console.log(`${root}\nA stranger-first (1 probe, then the caller sends 50 packets): caller got ${caller.got.rtp} RTP of its echoed audio, stranger got ${stranger.got.rtp}`);

// B. RTCP destination: the SDP names a victim (127.0.0.5) that never sends; 8 s, no media.
const victim = await sock('127.0.0.5');
const victimRtcp = await sock('127.0.0.5', victim.port + 1);
const b = await call('rtcp@m', sdp('127.0.0.5', victim.port));
await sleep(8000);
console.log(`B SDP c= points at a third party for 8 s: it received ${victim.got.rtp} RTP, ${victimRtcp.got.other + victimRtcp.got.rtp} RTCP datagrams`);
b.bye();

// C. m=audio 65535: is the process still there 8 s later?
await call('port65535@m', sdp('127.0.0.1', 65535));
await sleep(8000);
c.send(request('OPTIONS', sipPort, c.port, { 'Call-ID': 'opt@m' }), sipPort);
const alive = await c.response((r: any) => r.headers.get('Call-ID') === 'opt@m', 2000).then(() => true, () => false);
console.log(`C INVITE with m=audio 65535, 8 s later: ${exit ?? 'process running'}, OPTIONS answered: ${alive}${exit ? `; stderr: ${stderr.split('\n').find((l) => /Error/.test(l))}` : ''}`);
proc.kill('SIGTERM');
await sleep(500);
for (const x of [caller, stranger, victim, victimRtcp]) x.s.close();
c.close();
rmSync(dataDir, { recursive: true, force: true });
