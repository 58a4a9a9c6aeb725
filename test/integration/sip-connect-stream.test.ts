// `engine.connect()` to a client registered over TCP (RFC 3261 §18, RFC 5626 §5.3): while its
// registration connection is open the call goes down that connection (the client may listen
// nowhere else); once it has closed, callchart opens a new connection to the Contact's address
// and transport (§18.1.1), as for any `;transport=tcp` URI.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createEngine, demoApp, type Engine } from '../../src/index.js';
import { buildAuthorization, parseChallenge } from '../../src/sip/codec/digest.js';
import { createResponse, parseMessage, serialize, type SipRequest } from '../../src/sip/codec/message.js';
import { StreamFramer } from '../../src/sip/transport/stream-framer.js';
import { RawStream } from '../helpers/raw-stream.js';
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

/** Answer INVITEs (200 with SDP) and BYEs (200) on a stream; every request is recorded. */
function answer(write: (b: Buffer) => void, got: SipRequest[], contact: string): (chunk: Buffer) => void {
  const framer = new StreamFramer();
  return (chunk) => {
    for (const ev of framer.push(chunk)) {
      if (ev.type !== 'message') continue;
      const p = parseMessage(ev.bytes);
      if (!p.ok || p.message.kind !== 'request') continue;
      got.push(p.message);
      if (p.message.method === 'INVITE') {
        write(serialize(createResponse(p.message, 200, 'OK', { toTag: 'bob1', headers: [['Contact', contact]], body: SDP, contentType: 'application/sdp' })));
      } else if (p.message.method === 'BYE') write(serialize(createResponse(p.message, 200)));
    }
  };
}

test('connect() to a TCP-registered client: down its registration connection while open, a new connection to its Contact once closed', { timeout: 30_000 }, async () => {
  // The phone: a TCP listener (its Contact) and the connection it registers over.
  const got: SipRequest[] = [];
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    s.on('data', answer((b) => s.write(b), got, `<sip:bob@127.0.0.1:${(server.address() as net.AddressInfo).port};transport=tcp>`));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const phonePort = (server.address() as net.AddressInfo).port;
  const contact = `<sip:bob@127.0.0.1:${phonePort};transport=tcp>`;
  try {
    const pbx: Engine = await engine({ rtpPorts: '28300-28339', sip: { auth: { realm: 'test', users }, tcpPort: 0 }, onIncomingCall: demoApp({ registrar: () => pbx }) });
    const caller = await engine({ rtpPorts: '28340-28379' });
    const reg = await RawStream.connect(pbx.sipTcpPort!);
    const viaGot: SipRequest[] = [];
    reg.socket.on('data', answer((b) => reg.socket.write(b), viaGot, contact));
    const registerText = (cseq: number, auth?: string) =>
      [
        `REGISTER sip:127.0.0.1:${pbx.sipTcpPort} SIP/2.0`,
        `Via: SIP/2.0/TCP 127.0.0.1:${reg.port};branch=z9hG4bKreg${cseq}`,
        'Max-Forwards: 70',
        'From: <sip:bob@127.0.0.1>;tag=r1',
        'To: <sip:bob@127.0.0.1>',
        'Call-ID: reg-tcp-1',
        `CSeq: ${cseq} REGISTER`,
        `Contact: ${contact}`,
        'Expires: 120',
        ...(auth ? [`Authorization: ${auth}`] : []),
        'Content-Length: 0',
        '',
        '',
      ].join('\n');
    reg.send(registerText(1));
    const challenge = parseChallenge((await reg.response((r) => r.status === 401)).headers.get('WWW-Authenticate')!)!;
    const auth = buildAuthorization({ challenge, method: 'REGISTER', uri: `sip:127.0.0.1:${pbx.sipTcpPort}`, username: 'bob', password: users.bob });
    reg.send(registerText(2, auth.value));
    assert.equal((await reg.response((r) => r.headers.get('CSeq') === '2 REGISTER')).status, 200);
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
