// SIP over TCP and TLS on loopback with real sockets (issue 16, item 3): calls in and out over a
// stream, responses and in-dialog requests on the connection the dialog uses, Contact/Via naming
// the transport, keep-alive pongs; and hostile input (an oversized or never-ending message, a
// stalled TLS handshake, too many connections) bounded, answered when possible, and harmless to a
// call in progress.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Engine, EngineOptions } from '../../src/index.js';
import { RawStream, answerRequests, streamRequest } from '../helpers/raw-stream.js';
import { StreamFramer } from '../../src/sip/transport/stream-framer.js';
import { serialize, createResponse, type SipRequest } from '../../src/sip/codec/message.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { selfSignedCert } from '../helpers/tls-cert.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';

const SDP = 'v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40100 RTP/AVP 0\n';
const streams: RawStream[] = [];
let cert = '';
let key = '';

before(() => {
  ({ cert, key } = selfSignedCert());
});

after(async () => {
  for (const s of streams) s.close();
  await engines.closeAll();
});

const engines = loopbackEngines(38100, 50, { onIncomingCall: () => ({ action: 'accept' }) });
/** An engine with SIP over TCP and TLS beside UDP (all ephemeral ports). */
function start(sip: EngineOptions['sip'] = {}, o: EngineOptions = {}): Promise<Engine> {
  return engines.start({ ...o, sip: { tcpPort: 0, tlsPort: 0, tls: { cert, key }, ...sip } });
}

async function connect(port: number, secure = false): Promise<RawStream> {
  const s = await RawStream.connect(port, secure);
  streams.push(s);
  return s;
}

const toTag = (to: string | undefined) => /tag=([^;>\s]+)/.exec(to ?? '')?.[1] ?? '';

/** One whole inbound call over a stream: INVITE (split in two segments), 200, ACK, BYE. */
async function inboundCall(c: RawStream, kind: 'TCP' | 'TLS', port: number, id: string): Promise<void> {
  const from = `<sip:alice@127.0.0.1:${c.port}>;tag=a1`;
  const invite = streamRequest(kind, 'INVITE', port, c.port, { 'Call-ID': id, From: from, 'Content-Type': 'application/sdp' }, SDP);
  c.send(invite, 200);
  const ok = await c.response((r) => r.status === 200 && r.headers.get('Call-ID') === id);
  const contact = ok.headers.get('Contact') ?? '';
  assert.match(contact, new RegExp(`:${port};transport=${kind.toLowerCase()}>`), 'Contact names the stream and its port');
  const to = ok.headers.get('To');
  c.send(streamRequest(kind, 'ACK', port, c.port, { 'Call-ID': id, From: from, To: to, CSeq: '1 ACK' }));
  c.send(streamRequest(kind, 'BYE', port, c.port, { 'Call-ID': id, From: from, To: to, CSeq: '2 BYE' }));
  const bye = await c.response((r) => r.headers.get('CSeq') === '2 BYE');
  assert.equal(bye.status, 200);
  assert.ok(toTag(to));
}

test('a call in over TCP: responses on the same connection, Contact ;transport=tcp, keep-alive pong', async () => {
  const e = await start();
  const port = e.sipTcpPort!;
  const c = await connect(port);
  c.socket.write('\r\n\r\n');
  await waitFor(() => c.text === '\r\n', 'a CRLF pong for a CRLFCRLF ping');
  await inboundCall(c, 'TCP', port, 'tcp-call-1@127.0.0.1');
  // A second call reuses the connection.
  await inboundCall(c, 'TCP', port, 'tcp-call-2@127.0.0.1');
});

test('over TCP a refused INVITE gets its 486 once: no Timer G retransmissions on a reliable transport (§17.2.1)', async () => {
  const e = await start({}, { onIncomingCall: () => ({ action: 'reject', code: 486 }) });
  const port = e.sipTcpPort!;
  const c = await connect(port);
  const from = `<sip:alice@127.0.0.1:${c.port}>;tag=a1`;
  c.send(streamRequest('TCP', 'INVITE', port, c.port, { 'Call-ID': 'tcp-486@127.0.0.1', From: from, 'Content-Type': 'application/sdp' }, SDP));
  await c.response((r) => r.status === 486);
  // No ACK: over UDP Timer G would resend the 486 at 500 ms and 1 s (T1 = 500 ms).
  await new Promise((r) => setTimeout(r, 1300));
  assert.equal(c.got.filter((r) => r.status === 486).length, 0, 'no second 486');
  assert.equal(e.sip!.transactions.stats.responsesRetransmitted, 0);
});

test('a call in over TLS (self-signed certificate made at test time)', async () => {
  const e = await start();
  const c = await connect(e.sipTlsPort!, true);
  await inboundCall(c, 'TLS', e.sipTlsPort!, 'tls-call-1@127.0.0.1');
});

test('a call out over TCP: INVITE, ACK and BYE on one connection, Via SIP/2.0/TCP', async () => {
  const e = await start();
  const got: SipRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('data', answerRequests((b) => s.write(b), got, `<sip:bob@127.0.0.1:${(server.address() as net.AddressInfo).port};transport=tcp>`, SDP.replace(/\n/g, '\r\n')));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const port = (server.address() as net.AddressInfo).port;
    const call = await e.call(`sip:bob@127.0.0.1:${port};transport=tcp`);
    await waitFor(() => got.some((r) => r.method === 'ACK'), 'the ACK');
    call.hangup();
    await waitFor(() => got.some((r) => r.method === 'BYE'), 'the BYE');
    assert.deepEqual(got.map((r) => r.method), ['INVITE', 'ACK', 'BYE']);
    assert.equal(sockets.size, 1, 'one connection carried the dialog');
    assert.match(got[0]!.headers.get('Via') ?? '', new RegExp(`^SIP/2\\.0/TCP 127\\.0\\.0\\.1:${e.sipTcpPort};`));
    assert.match(got[0]!.headers.get('Contact') ?? '', /;transport=tcp>/);
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
});

test('an oversized message gets 513 and its connection closed; a never-ending one too; other calls go on', async () => {
  const e = await start({ streamLimits: { maxMessageBytes: 8192, maxHeaderBytes: 2048 } });
  const port = e.sipTcpPort!;
  const good = await connect(port);

  const big = await connect(port);
  big.send(streamRequest('TCP', 'INVITE', port, big.port, { 'Call-ID': 'big@127.0.0.1', 'Content-Type': 'application/sdp' }, 'x'.repeat(10)).replace(/Content-Length: \d+/, 'Content-Length: 100000000'));
  await big.closed;
  assert.match(big.text, /^SIP\/2\.0 513 Message too large\r\n/);
  assert.match(big.text, /\r\nCall-ID: big@127\.0\.0\.1\r\n/);

  const endless = await connect(port);
  endless.send(streamRequest('TCP', 'OPTIONS', port, endless.port, { 'Call-ID': 'endless@127.0.0.1' }).replace(/Content-Length: 0\n\n$/, ''));
  for (let i = 0; i < 60 && !endless.socket.destroyed; i++) {
    endless.socket.write(`X-Pad-${i}: ${'p'.repeat(60)}\r\n`);
    await sleep(2);
  }
  await endless.closed;
  assert.match(endless.text, /^SIP\/2\.0 513 Header section too large\r\n/);

  await inboundCall(good, 'TCP', port, 'after-hostile@127.0.0.1');
});

test('a stalled TLS handshake is dropped at the handshake timeout; connection limits per IP hold', async () => {
  const e = await start({ streamLimits: { handshakeTimeoutMs: 300, maxConnectionsPerIp: 3 } });
  const stalled = net.connect({ port: e.sipTlsPort!, host: '127.0.0.1' });
  stalled.on('error', () => {});
  const t0 = Date.now();
  await new Promise<void>((r) => stalled.once('close', () => r()));
  const took = Date.now() - t0;
  assert.ok(took >= 250 && took < 3000, `closed after ${took} ms`);

  const port = e.sipTcpPort!;
  const held = [await connect(port), await connect(port), await connect(port)];
  const extra = await connect(port);
  await extra.closed; // the fourth from 127.0.0.1 is refused
  held[0]!.close();
  await held[0]!.closed;
  await sleep(50);
  const again = await connect(port);
  await inboundCall(again, 'TCP', port, 'after-limit@127.0.0.1');
});

test('an INVITE sent over TCP is not retransmitted (Timer A is for UDP only)', async () => {
  const e = await start();
  let invites = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    const framer = new StreamFramer();
    s.on('data', (chunk: Buffer) => {
      for (const ev of framer.push(chunk)) if (ev.type === 'message' && ev.bytes.toString('latin1').startsWith('INVITE ')) invites++;
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const port = (server.address() as net.AddressInfo).port;
    await e.call(`sip:bob@127.0.0.1:${port};transport=tcp`);
    await waitFor(() => invites === 1, 'the INVITE');
    await sleep(1700); // Timer A would have resent it at 0.5 s and 1.5 s
    assert.equal(invites, 1);
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
});

test('a connection carrying a dialog is not idle-closed (a silent client still gets our BYE on it); the idle timeout resumes once the dialog is gone', async () => {
  let inbound: import('../../src/index.js').Call | undefined;
  // T1 of 10 ms: the ended leg lingers 64*T1 for retransmissions, then lets its connection go.
  const e = await start({ streamLimits: { idleTimeoutMs: 300 }, timers: { t1: 10 } }, { onIncomingCall: (call) => ((inbound = call), { action: 'accept' }) });
  const port = e.sipTcpPort!;
  const c = await connect(port);
  const id = 'tcp-idle-dialog@127.0.0.1';
  const from = `<sip:alice@127.0.0.1:${c.port}>;tag=a1`;
  c.send(streamRequest('TCP', 'INVITE', port, c.port, { 'Call-ID': id, From: from, 'Content-Type': 'application/sdp' }, SDP));
  const ok = await c.response((r) => r.status === 200 && r.headers.get('Call-ID') === id);
  c.send(streamRequest('TCP', 'ACK', port, c.port, { 'Call-ID': id, From: from, To: ok.headers.get('To'), CSeq: '1 ACK' }));
  // Silent for well over the idle timeout: the call's connection stays open.
  await sleep(900);
  assert.equal(c.socket.destroyed, false, 'the dialog keeps its connection open');
  inbound!.hangup();
  const bye = await c.request((r) => r.method === 'BYE');
  c.socket.write(serialize(createResponse(bye, 200)));
  // The dialog is over: the connection is idle-closed again.
  await c.closed;
  // A connection with no dialog is closed at the idle timeout as before.
  const idle = await connect(port);
  const t0 = performance.now();
  await idle.closed;
  assert.ok(performance.now() - t0 < 1500, 'an idle connection is closed at the idle timeout');
});
