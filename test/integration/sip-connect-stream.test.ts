// `engine.connect()` to a client registered over TCP (RFC 3261 §18, RFC 5626 §5.3): while its
// registration connection is open the call goes down that connection (the client may listen
// nowhere else); once it has closed, callchart opens a new connection to the Contact's address
// and transport (§18.1.1), as for any `;transport=tcp` URI.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createEngine, demoApp, type Engine } from '../../src/index.js';
import { buildAuthorization, parseChallenge } from '../../src/sip/codec/digest.js';
import type { SipRequest } from '../../src/sip/codec/message.js';
import { RawStream, answerRequests } from '../helpers/raw-stream.js';
import { waitFor } from '../helpers/wait.js';

const users = { alice: 'alice-pw', bob: 'bob-pw' };
const engines: Engine[] = [];
after(async () => {
  for (const e of engines) await e.close();
});

async function engine(o: Parameters<typeof createEngine>[0]): Promise<Engine> {
  const e = createEngine({ host: '127.0.0.1', sipPort: 0, wsPort: 0, inboundCall: false, ...o });
  engines.push(e);
  await e.listen();
  return e;
}

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 28990 RTP/AVP 0\r\n';

/**
 * bob registers over a new TCP connection to `pbx` with this Contact (digest: 401, then again with
 * credentials); the connection answers INVITEs and BYEs sent down it, recorded in `got`.
 */
async function registerBob(pbx: Engine, contact: string, o: { cseq?: number; callId?: string; contactParams?: string; headers?: string[] } = {}) {
  const reg = await RawStream.connect(pbx.sipTcpPort!);
  const got: SipRequest[] = [];
  reg.socket.on('data', answerRequests((b) => reg.socket.write(b), got, contact, SDP));
  const base = o.cseq ?? 0;
  const text = (cseq: number, auth?: string) =>
    [
      `REGISTER sip:127.0.0.1:${pbx.sipTcpPort} SIP/2.0`,
      `Via: SIP/2.0/TCP 127.0.0.1:${reg.port};branch=z9hG4bKreg${base + cseq}`,
      'Max-Forwards: 70',
      'From: <sip:bob@127.0.0.1>;tag=r1',
      'To: <sip:bob@127.0.0.1>',
      `Call-ID: ${o.callId ?? 'reg-tcp-1'}`,
      `CSeq: ${base + cseq} REGISTER`,
      ...(o.headers ?? []),
      `Contact: ${contact}${o.contactParams ?? ''}`,
      'Expires: 120',
      ...(auth ? [`Authorization: ${auth}`] : []),
      'Content-Length: 0',
      '',
      '',
    ].join('\n');
  reg.send(text(1));
  const challenge = parseChallenge((await reg.response((r) => r.status === 401)).headers.get('WWW-Authenticate')!)!;
  const auth = buildAuthorization({ challenge, method: 'REGISTER', uri: `sip:127.0.0.1:${pbx.sipTcpPort}`, username: 'bob', password: users.bob });
  reg.send(text(2, auth.value));
  const ok = await reg.response((r) => r.headers.get('CSeq') === `${base + 2} REGISTER`);
  return { reg, got, ok };
}

test('connect() to a TCP-registered client: down its registration connection while open, a new connection to its Contact once closed', { timeout: 30_000 }, async () => {
  // The phone: a TCP listener (its Contact) and the connection it registers over.
  const got: SipRequest[] = [];
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    s.on('data', answerRequests((b) => s.write(b), got, `<sip:bob@127.0.0.1:${(server.address() as net.AddressInfo).port};transport=tcp>`, SDP));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const phonePort = (server.address() as net.AddressInfo).port;
  const contact = `<sip:bob@127.0.0.1:${phonePort};transport=tcp>`;
  try {
    const pbx: Engine = await engine({ rtpPorts: '28300-28339', sip: { auth: { realm: 'test', users }, tcpPort: 0 }, onIncomingCall: demoApp({ registrar: () => pbx }) });
    const caller = await engine({ rtpPorts: '28340-28379' });
    const { reg, got: viaGot, ok } = await registerBob(pbx, contact);
    assert.equal(ok.status, 200);
    assert.equal(pbx.registrations.lookup('bob').length, 1);

    const call = async () => {
      const out = await caller.call(`sip:bob@127.0.0.1:${pbx.sipPort}`, { from: 'sip:alice@127.0.0.1', auth: { username: 'alice', password: users.alice } });
      await new Promise<void>((resolve, reject) => {
        out.once('answered', () => resolve());
        out.once('ended', (end) => reject(new Error(`call ended: ${JSON.stringify(end)}`)));
      });
      out.hangup();
      await out.waitForEnd();
    };

    // Open: the INVITE comes down the registration connection, and nothing connects to the Contact.
    await call();
    await waitFor(() => viaGot.some((r) => r.method === 'BYE'), 'the BYE on the registration connection');
    assert.deepEqual(viaGot.map((r) => r.method), ['INVITE', 'ACK', 'BYE']);
    assert.equal(accepted, 0, 'no new connection while the flow is open');

    // Closed: a new connection to the Contact's host, port and transport carries the call.
    reg.close();
    await reg.closed;
    await waitFor(() => pbx.registrations.lookup('bob').length === 1, 'binding kept');
    await call();
    await waitFor(() => got.some((r) => r.method === 'BYE'), 'the BYE on the new connection');
    assert.equal(accepted, 1, 'one new connection to the Contact');
    assert.deepEqual(got.map((r) => r.method), ['INVITE', 'ACK', 'BYE']);
    assert.match(got[0]!.headers.get('Via') ?? '', /^SIP\/2\.0\/TCP /);
    assert.equal(got[0]!.uri.kind === 'sip' && got[0]!.uri.port, phonePort, 'Request-URI is the Contact');
  } finally {
    server.close();
  }
});

// RFC 5626: a client that registers with `+sip.instance` and `reg-id` asks for an outbound binding,
// one per flow. The binding is keyed by instance and reg-id (a re-REGISTER over a new connection
// replaces it, Contact and all), the 200 says `Require: outbound`, and once that flow is gone a call
// to it gets 430 (Flow Failed, §5.3) instead of a connection to a Contact the client may not listen on.
test('outbound (RFC 5626) bindings: keyed by instance and reg-id, down their flow, 430 once the flow failed', { timeout: 30_000 }, async () => {
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const contactOf = (n: number) => `<sip:bob@127.0.0.1:${(server.address() as net.AddressInfo).port};transport=tcp;ob;n=${n}>`;
  const instance = '"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"';
  try {
    const pbx: Engine = await engine({ rtpPorts: '28380-28419', sip: { auth: { realm: 'test', users }, tcpPort: 0 }, onIncomingCall: demoApp({ registrar: () => pbx }) });
    const caller = await engine({ rtpPorts: '28420-28459' });

    /** Register bob over a new TCP connection with this Contact (and outbound's parameters). */
    const register = (n: number, contact: string, outbound = true) =>
      registerBob(pbx, contact, {
        cseq: n * 10,
        callId: 'reg-outbound-1',
        headers: ['Supported: outbound, path'],
        ...(outbound ? { contactParams: `;+sip.instance=${instance};reg-id=1` } : {}),
      });
    const call = async () => {
      const out = await caller.call(`sip:bob@127.0.0.1:${pbx.sipPort}`, { from: 'sip:alice@127.0.0.1', auth: { username: 'alice', password: users.alice } });
      return new Promise<{ answered: boolean; code?: number }>((resolve) => {
        out.once('answered', () => {
          out.hangup();
          resolve({ answered: true });
        });
        out.once('ended', (end) => resolve({ answered: false, ...(end.code !== undefined ? { code: end.code } : {}) }));
      });
    };

    const first = await register(1, contactOf(1));
    assert.equal(first.ok.status, 200);
    assert.match(first.ok.headers.get('Require') ?? '', /\boutbound\b/, 'the 200 requires outbound');
    const [b1] = pbx.registrations.lookup('bob');
    assert.deepEqual(b1?.outbound, { instance: '<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>', regId: 1 });

    // The same instance and reg-id over a new connection, with another Contact: that binding, replaced.
    const second = await register(2, contactOf(2));
    assert.equal(second.ok.status, 200);
    const bindings = pbx.registrations.lookup('bob');
    assert.equal(bindings.length, 1, 'one binding per instance and reg-id');
    assert.equal(bindings[0]!.contact, contactOf(2).slice(1, -1));
    assert.equal(bindings[0]!.source.port, second.reg.port, 'the binding follows the new flow');
    first.reg.close();
    await first.reg.closed;

    assert.deepEqual(await call(), { answered: true });
    assert.deepEqual(second.got.map((r) => r.method).slice(0, 1), ['INVITE'], 'down the new flow');
    assert.equal(first.got.length, 0);

    // The flow fails: 430 to the caller, the binding goes, and no connection to the Contact is tried.
    second.reg.close();
    await second.reg.closed;
    assert.deepEqual(await call(), { answered: false, code: 430 });
    assert.equal(accepted, 0, 'no connection to the Contact');
    assert.equal(pbx.registrations.lookup('bob').length, 0, 'the failed flow\'s binding is removed');

    // Without outbound's parameters a binding is by Contact, and the 200 does not require outbound.
    const plain = await register(3, contactOf(3), false);
    assert.equal(plain.ok.status, 200);
    assert.equal(plain.ok.headers.get('Require'), undefined);
    assert.equal(pbx.registrations.lookup('bob')[0]!.outbound, undefined);
    plain.reg.close();
    await plain.reg.closed;
  } finally {
    server.close();
  }
});
