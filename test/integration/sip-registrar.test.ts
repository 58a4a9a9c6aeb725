// The registrar (RFC 3261 §10.3) and outbound registration (§10.2) over loopback UDP: raw REGISTERs
// with digest credentials against an engine with users; a second engine registering with
// `engine.register()`; a call to a registered AOR bridged to the contact with `engine.connect()`.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine, demoApp, type Engine, type Call } from '../../src/index.js';
import { buildAuthorization, parseChallenge } from '../../src/sip/codec/digest.js';
import { createResponse, serialize, type SipResponse } from '../../src/sip/codec/message.js';
import { RawSip } from '../helpers/raw-sip.js';

const users = { alice: 'alice-pw', bob: 'bob-pw' };
const engines: Engine[] = [];
const socks: RawSip[] = [];
after(async () => {
  for (const s of socks) s.close();
  for (const e of engines) await e.close();
});

async function registrar(o: Parameters<typeof createEngine>[0] = {}): Promise<Engine> {
  const e = createEngine({ host: '127.0.0.1', sipPort: 0, rtpPorts: '42000-42199', sip: { auth: { realm: 'test', users }, ...o.sip }, ...o });
  engines.push(e);
  await e.listen();
  return e;
}

async function raw(): Promise<RawSip> {
  const s = await new RawSip().open();
  socks.push(s);
  return s;
}

interface Reg {
  user: string;
  password?: string;
  toUser?: string;
  contacts: string[];
  expires?: number;
  callId: string;
  cseq: number;
}

function registerText(port: number, clientPort: number, r: Reg, auth?: string): string {
  const lines = [
    `REGISTER sip:127.0.0.1:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${clientPort};branch=z9hG4bK${Math.random().toString(36).slice(2)};rport`,
    'Max-Forwards: 70',
    `From: <sip:${r.user}@127.0.0.1>;tag=f${r.callId}`,
    `To: <sip:${r.toUser ?? r.user}@127.0.0.1>`,
    `Call-ID: ${r.callId}`,
    `CSeq: ${r.cseq} REGISTER`,
    ...r.contacts.map((c) => `Contact: ${c}`),
    ...(r.expires !== undefined ? [`Expires: ${r.expires}`] : []),
    ...(auth ? [`Authorization: ${auth}`] : []),
    'Content-Length: 0',
  ];
  return `${lines.join('\n')}\n\n`;
}

/** REGISTER, answer the 401 with the user's password (CSeq + 1), return the final response. */
async function register(s: RawSip, port: number, r: Reg): Promise<SipResponse> {
  s.send(registerText(port, s.port, r), port);
  const first = await s.response((x) => x.headers.get('Call-ID') === r.callId);
  if (first.status !== 401) return first;
  const challenge = parseChallenge(first.headers.get('WWW-Authenticate')!)!;
  r.cseq++;
  const auth = buildAuthorization({ challenge, method: 'REGISTER', uri: `sip:127.0.0.1:${port}`, username: r.user, password: r.password ?? users[r.user as keyof typeof users] });
  s.send(registerText(port, s.port, r, auth.value), port);
  return s.response((x) => x.headers.get('Call-ID') === r.callId);
}

const contactsOf = (res: SipResponse) => res.headers.getAll('Contact').sort();
let ids = 0;
const callId = () => `reg-${++ids}-${Math.random().toString(36).slice(2)}`;

describe('registrar', () => {
  test('REGISTER is challenged; two contacts bind, 200 lists them with their expiry; lookup finds them', async () => {
    const e = await registrar();
    const s = await raw();
    const r: Reg = { user: 'alice', contacts: ['<sip:alice@127.0.0.1:7001>', '<sip:alice@127.0.0.1:7002>;expires=120'], expires: 300, callId: callId(), cseq: 1 };
    s.send(registerText(e.sipPort!, s.port, r), e.sipPort!);
    const challenge = await s.response();
    assert.equal(challenge.status, 401);
    assert.match(challenge.headers.get('WWW-Authenticate') ?? '', /Digest realm="test"/);
    assert.equal(e.registrations.size, 0, 'a challenge binds nothing');
    const ok = await register(s, e.sipPort!, r);
    assert.equal(ok.status, 200);
    const listed = contactsOf(ok);
    assert.equal(listed.length, 2);
    assert.match(listed[0]!, /^<sip:alice@127\.0\.0\.1:7001>;expires=(300|299)$/);
    assert.match(listed[1]!, /^<sip:alice@127\.0\.0\.1:7002>;expires=(120|119)$/);
    const found = e.registrations.lookup('sip:alice@example.com');
    assert.deepEqual(found.map((b) => b.contact).sort(), ['sip:alice@127.0.0.1:7001', 'sip:alice@127.0.0.1:7002']);
    assert.equal(found[0]!.aor, 'sip:alice@127.0.0.1');
    assert.equal(e.registrations.lookup('bob').length, 0);
    assert.equal(e.supervisor.count('registration'), 2, 'one actor per binding');

    // Expires: 0 on one contact removes it; the other stays.
    r.cseq++;
    const rm = await register(s, e.sipPort!, { ...r, contacts: ['<sip:alice@127.0.0.1:7001>'], expires: 0 });
    assert.equal(rm.status, 200);
    assert.deepEqual(contactsOf(rm).map((c) => c.replace(/;expires=\d+/, '')), ['<sip:alice@127.0.0.1:7002>']);
    assert.equal(e.registrations.lookup('alice').length, 1);

    // A REGISTER without Contact is a query: 200 with the bindings, nothing changes.
    const q = await register(s, e.sipPort!, { user: 'alice', contacts: [], callId: callId(), cseq: 1 });
    assert.equal(q.status, 200);
    assert.equal(contactsOf(q).length, 1);

    // Contact: * with Expires: 0 removes every binding.
    const star = await register(s, e.sipPort!, { user: 'alice', contacts: ['*'], expires: 0, callId: callId(), cseq: 1 });
    assert.equal(star.status, 200);
    assert.equal(contactsOf(star).length, 0);
    assert.equal(e.registrations.size, 0);
    await new Promise((r) => setImmediate(r));
    assert.equal(e.supervisor.count('registration'), 0, 'the binding actors are gone');
  });

  test('423 below the minimum; * without Expires: 0 is 400; another AOR is 403; an out-of-order CSeq changes nothing', async () => {
    const e = await registrar();
    const s = await raw();
    const brief = await register(s, e.sipPort!, { user: 'bob', contacts: ['<sip:bob@127.0.0.1:7003>'], expires: 10, callId: callId(), cseq: 1 });
    assert.equal(brief.status, 423);
    assert.equal(brief.headers.get('Min-Expires'), '60');
    const badStar = await register(s, e.sipPort!, { user: 'bob', contacts: ['*'], expires: 60, callId: callId(), cseq: 1 });
    assert.equal(badStar.status, 400);
    const other = await register(s, e.sipPort!, { user: 'bob', toUser: 'alice', contacts: ['<sip:bob@127.0.0.1:7003>'], expires: 60, callId: callId(), cseq: 1 });
    assert.equal(other.status, 403);
    const id = callId();
    const ok = await register(s, e.sipPort!, { user: 'bob', contacts: ['<sip:bob@127.0.0.1:7003>'], expires: 600, callId: id, cseq: 10 });
    assert.equal(ok.status, 200);
    const stale = await register(s, e.sipPort!, { user: 'bob', contacts: ['<sip:bob@127.0.0.1:7003>'], expires: 0, callId: id, cseq: 3 });
    assert.equal(stale.status, 500);
    assert.equal(e.registrations.lookup('bob').length, 1, 'the out-of-order REGISTER removed nothing');
    const wrong = await register(s, e.sipPort!, { user: 'bob', password: 'nope', contacts: ['<sip:bob@127.0.0.1:7004>'], expires: 600, callId: callId(), cseq: 1 });
    assert.equal(wrong.status, 403);
    assert.equal(e.registrations.lookup('bob').length, 1);
  });

  test('bindings expire; caps per AOR (403) and in all (503)', async () => {
    const e = await registrar({ sip: { auth: { realm: 'test', users }, registrar: { minExpires: 1, maxBindingsPerAor: 2, maxBindings: 3 } } });
    const s = await raw();
    const one = await register(s, e.sipPort!, { user: 'alice', contacts: ['<sip:alice@127.0.0.1:7005>'], expires: 1, callId: callId(), cseq: 1 });
    assert.equal(one.status, 200);
    assert.equal(e.registrations.size, 1);
    await new Promise((r) => setTimeout(r, 1300));
    assert.equal(e.registrations.size, 0, 'expired after its 1 s');
    const two = await register(s, e.sipPort!, { user: 'alice', contacts: ['<sip:alice@127.0.0.1:7006>', '<sip:alice@127.0.0.1:7007>'], expires: 60, callId: callId(), cseq: 1 });
    assert.equal(two.status, 200);
    const three = await register(s, e.sipPort!, { user: 'alice', contacts: ['<sip:alice@127.0.0.1:7008>'], expires: 60, callId: callId(), cseq: 1 });
    assert.equal(three.status, 403);
    const bob1 = await register(s, e.sipPort!, { user: 'bob', contacts: ['<sip:bob@127.0.0.1:7009>'], expires: 60, callId: callId(), cseq: 1 });
    assert.equal(bob1.status, 200);
    const bob2 = await register(s, e.sipPort!, { user: 'bob', contacts: ['<sip:bob@127.0.0.1:7010>'], expires: 60, callId: callId(), cseq: 1 });
    assert.equal(bob2.status, 503);
    assert.equal(e.registrations.size, 3);
  });

  // RFC 5626 §4.2 / §6: reg-id is 1 to 2^31-1, +sip.instance a URN in angle brackets, and at most
  // one Contact of a REGISTER carries reg-id. Each of these is a 400 naming the fault, binding nothing.
  test('outbound (RFC 5626): a bad reg-id, a bad +sip.instance, two Contacts with reg-id: 400 with the reason, no binding', async () => {
    const e = await registrar();
    const s = await raw();
    const instance = '+sip.instance="<urn:uuid:00000000-0000-1000-8000-000000000001>"';
    const cases: Array<[string[], string]> = [
      [[`<sip:alice@127.0.0.1:7201>;${instance};reg-id=0`], 'Bad Request (reg-id)'],
      [[`<sip:alice@127.0.0.1:7201>;${instance};reg-id=abc`], 'Bad Request (reg-id)'],
      [[`<sip:alice@127.0.0.1:7201>;${instance};reg-id=2147483648`], 'Bad Request (reg-id)'],
      [[`<sip:alice@127.0.0.1:7201>;${instance};reg-id=99999999999`], 'Bad Request (reg-id)'],
      [[`<sip:alice@127.0.0.1:7201>;${instance};reg-id`], 'Bad Request (reg-id)'],
      [['<sip:alice@127.0.0.1:7201>;+sip.instance="urn:uuid:no-angle-brackets";reg-id=1'], 'Bad Request (+sip.instance)'],
      [['<sip:alice@127.0.0.1:7201>;+sip.instance;reg-id=1'], 'Bad Request (+sip.instance)'],
      [[`<sip:alice@127.0.0.1:7201>;+sip.instance="<${'a'.repeat(300)}>";reg-id=1`], 'Bad Request (+sip.instance)'],
      [[`<sip:alice@127.0.0.1:7201>;${instance};reg-id=1`, `<sip:alice@127.0.0.1:7202>;${instance};reg-id=2`], 'Bad Request (more than one Contact with reg-id)'],
      // Two in one header line, comma-separated: the same.
      [[`<sip:alice@127.0.0.1:7201>;${instance};reg-id=1, <sip:alice@127.0.0.1:7202>;${instance};reg-id=2`], 'Bad Request (more than one Contact with reg-id)'],
    ];
    for (const [contacts, reason] of cases) {
      const res = await register(s, e.sipPort!, { user: 'alice', contacts, expires: 600, callId: callId(), cseq: 1 });
      assert.equal(res.status, 400, contacts.join(', '));
      assert.equal(res.reason, reason, contacts.join(', '));
      assert.equal(res.headers.get('Require'), undefined);
      assert.equal(e.registrations.size, 0, `no binding for ${contacts.join(', ')}`);
      assert.equal(e.supervisor.count('registration'), 0);
    }
    // The largest reg-id (2^31-1) is good: the same REGISTER binds.
    const ok = await register(s, e.sipPort!, { user: 'alice', contacts: [`<sip:alice@127.0.0.1:7201>;${instance};reg-id=2147483647`], expires: 600, callId: callId(), cseq: 1 });
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('Require') ?? '', /\boutbound\b/);
    assert.deepEqual(e.registrations.lookup('alice')[0]?.outbound, { instance: '<urn:uuid:00000000-0000-1000-8000-000000000001>', regId: 2147483647 });
  });

  test('REGISTERs from many unknown users bind nothing and stay challenged statelessly', async () => {
    const e = await registrar();
    const s = await raw();
    for (let i = 0; i < 200; i++) s.send(registerText(e.sipPort!, s.port, { user: `u${i}`, contacts: [`<sip:u${i}@127.0.0.1:7100>`], expires: 60, callId: callId(), cseq: 1 }), e.sipPort!);
    // Wait for the answers (a busy box can take more than a few hundred ms for 200 requests).
    for (let t = 0; t < 60 && s.got.filter((r) => r.status === 401).length <= 50; t++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(e.registrations.size, 0);
    assert.equal(e.supervisor.count('registration'), 0);
    assert.ok(s.got.filter((r) => r.status === 401).length > 50, 'answered with challenges');
    assert.equal(e.sip!.transactions.size.server, 0, 'no server transaction kept for a challenge');
  });
});

describe('outbound registration', () => {
  test('engine.register() registers with digest, the demo connects a call to the AOR to it, stop() unregisters', async () => {
    const calls: Call[] = [];
    // The CLI's demo app: a call to a registered user is connected to its phone (engine.connect).
    const pbx: Engine = await registrar({ onIncomingCall: demoApp({ registrar: () => pbx }) });
    const phone = createEngine({ host: '127.0.0.1', sipPort: 0, rtpPorts: '42200-42299', onIncomingCall: (call) => (calls.push(call), { action: 'accept' }) });
    engines.push(phone);
    await phone.listen();
    const states: string[] = [];
    const reg = await phone.register({ registrar: `sip:127.0.0.1:${pbx.sipPort}`, aor: 'sip:bob@127.0.0.1', password: users.bob, expires: 120 });
    reg.on('state', (i) => states.push(i.state));
    await reg.waitFor('registered');
    const [b] = pbx.registrations.lookup('bob');
    assert.ok(b, 'bob is bound');
    assert.equal(b.contact, `sip:bob@127.0.0.1:${phone.sipPort}`);
    assert.ok(b.expires > 100 && b.expires <= 120);

    const caller = createEngine({ host: '127.0.0.1', sipPort: 0, rtpPorts: '42300-42399' });
    engines.push(caller);
    await caller.listen();
    const out = await caller.call(`sip:bob@127.0.0.1:${pbx.sipPort}`, { from: 'sip:alice@127.0.0.1', auth: { username: 'alice', password: users.alice } });
    await new Promise<void>((resolve, reject) => {
      out.once('answered', () => resolve());
      out.once('ended', (end) => reject(new Error(`call ended: ${JSON.stringify(end)}`)));
    });
    assert.equal(calls.length, 1, 'the registered phone got the call');
    assert.equal(calls[0]!.from, 'sip:alice@127.0.0.1');
    const phoneEnded = new Promise((r) => calls[0]!.once('ended', r));
    out.hangup();
    await phoneEnded;

    await reg.stop();
    assert.equal(reg.state, 'stopped');
    assert.deepEqual(pbx.registrations.lookup('bob'), [], 'unregistered');
    assert.ok(states.includes('unregistering') && states.at(-1) === 'stopped', states.join(','));
  });

  test('a 503 with Retry-After is retried after it; 423 raises the expiry to Min-Expires', async () => {
    const fake = await raw();
    const phone = createEngine({ host: '127.0.0.1', sipPort: 0, rtpPorts: '42400-42499' });
    engines.push(phone);
    await phone.listen();
    const reg = await phone.register({ registrar: `sip:127.0.0.1:${fake.port}`, aor: 'sip:carol@127.0.0.1', password: 'x', expires: 30 });
    const reply = (status: number, headers: Array<[string, string]>) => async () => {
      const req = await fake.request((r) => r.method === 'REGISTER');
      fake.sock.send(serialize(createResponse(req, status, undefined, { toTag: 'r1', headers })), phone.sipPort!, '127.0.0.1');
      return req;
    };
    await reply(503, [['Retry-After', '1']])();
    await reg.waitFor('retrying');
    const t0 = Date.now();
    const second = await reply(423, [['Min-Expires', '90']])();
    assert.ok(Date.now() - t0 >= 900, 'waited for Retry-After');
    assert.equal(second.headers.get('Expires'), '30');
    const third = await reply(200, [['Contact', `<sip:carol@127.0.0.1:${phone.sipPort}>;expires=90`]])();
    assert.equal(third.headers.get('Expires'), '90');
    await reg.waitFor('registered');
    const stopping = reg.stop();
    await reply(200, [])();
    await stopping;
    assert.equal(reg.state, 'stopped');
  });
});
