// RFC 3327 Path over loopback UDP: a raw socket plays an edge proxy that forwards a phone's
// REGISTER (two Vias, its own Path entry); the registrar stores the Path with the binding and
// echoes it in the 200, and a call to that binding (`engine.connect`, through the demo app) goes to
// the proxy with the Path as its Route set and the Contact as its Request-URI. Without Path the call
// goes straight to the Contact, as before.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine, demoApp, type Engine } from '../../src/index.js';
import { buildAuthorization, parseChallenge } from '../../src/sip/codec/digest.js';
import { createResponse, serialize, type SipRequest, type SipResponse } from '../../src/sip/codec/message.js';
import { RawSip } from '../helpers/raw-sip.js';

const users = { alice: 'alice-pw', bob: 'bob-pw' };
const engines: Engine[] = [];
const socks: RawSip[] = [];
after(async () => {
  for (const s of socks) s.close();
  for (const e of engines) await e.close();
});

async function engine(o: Parameters<typeof createEngine>[0]): Promise<Engine> {
  const e = createEngine({ host: '127.0.0.1', sipPort: 0, wsPort: 0, inboundCall: false, ...o });
  engines.push(e);
  await e.listen();
  return e;
}

async function raw(): Promise<RawSip> {
  const s = await new RawSip().open();
  socks.push(s);
  return s;
}

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 28990 RTP/AVP 0\r\n';
let ids = 0;

interface PathReg {
  /** Where the REGISTER is sent from (the proxy, or the phone itself). */
  from: RawSip;
  /** The phone's Contact. */
  contact: string;
  /** Path header lines (none: no Path). */
  path?: string[];
  /** Extra header lines (Supported …). */
  headers?: string[];
  /** A second Via below the sender's: the phone behind the proxy. */
  phoneVia?: boolean;
}

/** bob REGISTERs (401, then with credentials); the final response. */
async function register(pbx: Engine, r: PathReg): Promise<SipResponse> {
  const port = pbx.sipPort!;
  const callId = `path-${++ids}`;
  const text = (cseq: number, auth?: string) =>
    [
      `REGISTER sip:127.0.0.1:${port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${r.from.port};branch=z9hG4bKp${ids}x${cseq};rport`,
      ...(r.phoneVia ? [`Via: SIP/2.0/UDP 10.0.0.9:5060;received=198.51.100.9;branch=z9hG4bKphone${ids}x${cseq}`] : []),
      'Max-Forwards: 69',
      `From: <sip:bob@127.0.0.1>;tag=f${ids}`,
      'To: <sip:bob@127.0.0.1>',
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} REGISTER`,
      ...(r.headers ?? []),
      ...(r.path ?? []).map((p) => `Path: ${p}`),
      `Contact: ${r.contact}`,
      'Expires: 600',
      ...(auth ? [`Authorization: ${auth}`] : []),
      'Content-Length: 0',
      '',
      '',
    ].join('\n');
  r.from.send(text(1), port);
  const first = await r.from.response((x) => x.headers.get('Call-ID') === callId);
  if (first.status !== 401) return first;
  const challenge = parseChallenge(first.headers.get('WWW-Authenticate')!)!;
  const auth = buildAuthorization({ challenge, method: 'REGISTER', uri: `sip:127.0.0.1:${port}`, username: 'bob', password: users.bob });
  r.from.send(text(2, auth.value), port);
  return r.from.response((x) => x.headers.get('Call-ID') === callId);
}

/** alice calls bob through the pbx (whose demo app connects it to bob's binding). */
async function callBob(caller: Engine, pbx: Engine) {
  return caller.call(`sip:bob@127.0.0.1:${pbx.sipPort}`, { from: 'sip:alice@127.0.0.1', auth: { username: 'alice', password: users.alice } });
}

/** The port of a request's top Via (the pbx's: where its responses go). */
const viaPort = (r: SipRequest) => Number(/^SIP\/2\.0\/UDP [^:;]+:(\d+)/.exec(r.headers.get('Via')!)![1]);

/**
 * Answer the INVITE `at` got as bob would (200 with SDP, its Contact; `recordRoute`: as the proxy
 * would add), then wait for the ACK there (or at `ackAt`).
 */
async function answerInvite(at: RawSip, invite: SipRequest, contact: string, recordRoute?: string, ackAt = at): Promise<SipRequest> {
  const headers: Array<[string, string]> = [['Contact', contact], ...(recordRoute ? [['Record-Route', recordRoute] as [string, string]] : [])];
  const ok = createResponse(invite, 200, 'OK', { toTag: 'bob1', headers, body: SDP, contentType: 'application/sdp' });
  at.sock.send(serialize(ok), viaPort(invite), '127.0.0.1');
  return ackAt.request((r) => r.method === 'ACK');
}

/** The caller hangs up; the BYE reaches `at` and is answered. */
async function hangUp(call: Awaited<ReturnType<typeof callBob>>, at: RawSip): Promise<SipRequest> {
  call.hangup();
  const bye = await at.request((r) => r.method === 'BYE');
  at.sock.send(serialize(createResponse(bye, 200)), viaPort(bye), '127.0.0.1');
  await call.waitForEnd();
  return bye;
}

const answered = (call: Awaited<ReturnType<typeof callBob>>) =>
  new Promise<void>((resolve, reject) => {
    call.once('answered', () => resolve());
    call.once('ended', (end) => reject(new Error(`call ended: ${JSON.stringify(end)}`)));
  });

describe('Path (RFC 3327)', () => {
  test('a REGISTER through a proxy with Path: the 200 echoes it; the call goes to the proxy with Route = Path, Request-URI = Contact', { timeout: 30_000 }, async () => {
    const pbx: Engine = await engine({ rtpPorts: '28500-28539', sip: { auth: { realm: 'test', users } }, onIncomingCall: demoApp({ registrar: () => pbx }) });
    const caller = await engine({ rtpPorts: '28540-28579' });
    const proxy = await raw();
    const phone = await raw();
    const contact = `<sip:bob@127.0.0.1:${phone.port}>`;
    const path = `<sip:proxy@127.0.0.1:${proxy.port};lr>`;

    const ok = await register(pbx, { from: proxy, contact, path: [path], headers: ['Supported: path'], phoneVia: true });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.headers.getAll('Path'), [path], 'the 200 echoes the Path');
    assert.match(ok.headers.get('Supported') ?? '', /\bpath\b/);
    const [b] = pbx.registrations.lookup('bob');
    assert.ok(b);
    assert.equal(b.contact, `sip:bob@127.0.0.1:${phone.port}`);
    assert.deepEqual(b.path, [path]);

    const out = await callBob(caller, pbx);
    const invite = await proxy.request((r) => r.method === 'INVITE');
    assert.deepEqual(invite.headers.getAll('Route'), [path], 'Route is the Path');
    assert.equal(invite.uri.kind === 'sip' && `${invite.uri.user}@${invite.uri.host}:${invite.uri.port}`, `bob@127.0.0.1:${phone.port}`, 'Request-URI is the Contact');
    const ack = await answerInvite(proxy, invite, contact, path);
    await answered(out);
    assert.deepEqual(ack.headers.getAll('Route'), [path], 'the ACK follows the 2xx\'s Record-Route');
    const bye = await hangUp(out, proxy);
    assert.deepEqual(bye.headers.getAll('Route'), [path]);
    assert.equal(phone.requests.length, 0, 'nothing went straight to the Contact');
  });

  test('several Path values (two headers, one with two entries) are kept in order, echoed, and become the Route set', { timeout: 30_000 }, async () => {
    const pbx: Engine = await engine({ rtpPorts: '28580-28619', sip: { auth: { realm: 'test', users } }, onIncomingCall: demoApp({ registrar: () => pbx }) });
    const caller = await engine({ rtpPorts: '28620-28659' });
    const proxy = await raw();
    const phone = await raw();
    const contact = `<sip:bob@127.0.0.1:${phone.port}>`;
    const p1 = `<sip:edge@127.0.0.1:${proxy.port};lr>`;
    const p2 = '<sip:core.example.net;lr>';
    const p3 = '<sip:10.0.0.3:5070;lr;transport=udp>';
    // No Supported: path from the phone: still stored and echoed (lenient; RFC 3327 allows a 420).
    const ok = await register(pbx, { from: proxy, contact, path: [`${p1}, ${p2}`, p3], phoneVia: true });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.headers.getAll('Path').flatMap((v) => v.split(/,\s*/)), [p1, p2, p3]);
    assert.deepEqual(pbx.registrations.lookup('bob')[0]?.path, [p1, p2, p3]);

    const out = await callBob(caller, pbx);
    const invite = await proxy.request((r) => r.method === 'INVITE');
    assert.deepEqual(invite.headers.getAll('Route').flatMap((v) => v.split(/,\s*/)), [p1, p2, p3]);
    assert.equal(invite.uri.kind === 'sip' && invite.uri.port, phone.port);
    await answerInvite(proxy, invite, contact, p1);
    await answered(out);
    await hangUp(out, proxy);

    // A re-REGISTER without Path (the phone moved off the proxy): the binding loses its Path.
    const again = await register(pbx, { from: phone, contact });
    assert.equal(again.status, 200);
    assert.equal(again.headers.get('Path'), undefined);
    assert.equal(pbx.registrations.lookup('bob')[0]?.path, undefined);
  });

  test('a strict-routing Path (no lr): Request-URI is the Path URI, the Contact the last Route (RFC 3261 §12.2.1.1); a strict router in Record-Route: the ACK and BYE route strictly too', { timeout: 30_000 }, async () => {
    const pbx: Engine = await engine({ rtpPorts: '28660-28699', sip: { auth: { realm: 'test', users } }, onIncomingCall: demoApp({ registrar: () => pbx }) });
    const caller = await engine({ rtpPorts: '28700-28739' });
    const proxy = await raw();
    const phone = await raw();
    const contact = `<sip:bob@127.0.0.1:${phone.port}>`;
    const path = `<sip:proxy@127.0.0.1:${proxy.port}>`;
    const ok = await register(pbx, { from: proxy, contact, path: [path], headers: ['Supported: path'], phoneVia: true });
    assert.equal(ok.status, 200);
    const out = await callBob(caller, pbx);
    const invite = await proxy.request((r) => r.method === 'INVITE');
    assert.equal(invite.uri.kind === 'sip' && `${invite.uri.user}@${invite.uri.host}:${invite.uri.port}`, `proxy@127.0.0.1:${proxy.port}`, 'Request-URI is the strict router');
    assert.deepEqual(invite.headers.getAll('Route'), [contact], 'the Contact is the last Route');
    // No Record-Route in the answer: the dialog's route set is empty, so its ACK and BYE go to the Contact.
    await answerInvite(proxy, invite, contact, undefined, phone);
    await answered(out);
    await hangUp(out, phone);

    // The strict router records its route: the dialog's ACK and BYE route strictly too (§12.2.1.1).
    const before = phone.datagrams;
    const again = await callBob(caller, pbx);
    const invite2 = await proxy.request((r) => r.method === 'INVITE' && r !== invite);
    const ack = await answerInvite(proxy, invite2, contact, `<sip:proxy@127.0.0.1:${proxy.port};method=INVITE>`);
    await answered(again);
    for (const [what, req] of [['ACK', ack], ['BYE', await hangUp(again, proxy)]] as const) {
      assert.equal(req.uri.kind === 'sip' && `${req.uri.user}@${req.uri.host}:${req.uri.port}`, `proxy@127.0.0.1:${proxy.port}`, `${what}: Request-URI is the strict router`);
      assert.equal(req.uri.kind === 'sip' && req.uri.params.has('method'), false, `${what}: without the method parameter (§19.1.1)`);
      assert.deepEqual(req.headers.getAll('Route'), [contact], `${what}: the remote target is the last Route`);
    }
    assert.equal(phone.datagrams, before, 'nothing went straight to the Contact');
  });

  test('a malformed Path is a 400 naming it, binding nothing; reg-id through a proxy with Path is an ordinary binding with the Path', { timeout: 30_000 }, async () => {
    const pbx = await engine({ rtpPorts: '28740-28779', sip: { auth: { realm: 'test', users } } });
    const proxy = await raw();
    const contact = '<sip:bob@127.0.0.1:7401>';
    // Bad syntax is refused by the parser (before any challenge); a Path that names no SIP hop by the registrar.
    const cases: Array<[string, string]> = [
      ['<sip:proxy@127.0.0.1;lr', 'Bad Path header'],
      ['garbage', 'Bad Path header'],
      ['<sip:a@127.0.0.1;lr>, ,', 'Empty Path element'],
      ['<tel:+15551234567>', 'Bad Request (Path)'],
      ['sip:proxy@127.0.0.1', 'Bad Request (Path)'],
    ];
    for (const [bad, reason] of cases) {
      const res = await register(pbx, { from: proxy, contact, path: [bad], headers: ['Supported: path'], phoneVia: true });
      assert.equal(res.status, 400, bad);
      assert.equal(res.reason, reason, bad);
      assert.equal(pbx.registrations.size, 0, bad);
    }
    const path = `<sip:proxy@127.0.0.1:${proxy.port};lr>`;
    const instance = '+sip.instance="<urn:uuid:00000000-0000-1000-8000-0000000000AA>"';
    const ok = await register(pbx, { from: proxy, contact: `${contact};${instance};reg-id=1`, path: [path], headers: ['Supported: path, outbound'], phoneVia: true });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('Require'), undefined, 'not an outbound binding: the edge proxy keeps the flow (RFC 5626 §6)');
    const [b] = pbx.registrations.lookup('bob');
    assert.equal(b?.outbound, undefined);
    assert.deepEqual(b?.path, [path]);
  });

  test('without Path the call goes straight to the Contact, with no Route', { timeout: 30_000 }, async () => {
    const pbx: Engine = await engine({ rtpPorts: '28780-28819', sip: { auth: { realm: 'test', users } }, onIncomingCall: demoApp({ registrar: () => pbx }) });
    const caller = await engine({ rtpPorts: '28820-28859' });
    const phone = await raw();
    const contact = `<sip:bob@127.0.0.1:${phone.port}>`;
    const ok = await register(pbx, { from: phone, contact, headers: ['Supported: path'] });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('Path'), undefined);
    assert.equal(pbx.registrations.lookup('bob')[0]?.path, undefined);
    const out = await callBob(caller, pbx);
    const invite = await phone.request((r) => r.method === 'INVITE');
    assert.deepEqual(invite.headers.getAll('Route'), []);
    assert.equal(invite.uri.kind === 'sip' && invite.uri.port, phone.port);
    await answerInvite(phone, invite, contact);
    await answered(out);
    await hangUp(out, phone);
  });
});
