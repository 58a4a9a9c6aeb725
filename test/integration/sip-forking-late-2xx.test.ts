// A forked outbound INVITE whose 2xx comes after the call is forgotten (RFC 3261 §13.2.2.4,
// RFC 6026): branch A refuses, the call fails, and once Timer D and the branches actor's linger
// (32 s, skipped with mocked timers) are over, branch B answers. Nothing of the call is left, but
// its From tag proves the INVITE was ours (src/sip/ua/stray-2xx.ts): B's 2xx is ACKed and its
// dialog ended with one BYE (so is C's, another branch). A 2xx whose tag does not verify, or that is malformed, gets nothing.
import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { RawSip } from '../helpers/raw-sip.js';
import { sample } from '../helpers/prom.js';
import { sleep } from '../helpers/wait.js';
import type { SipRequest } from '../../src/sip/codec/message.js';
import type { Engine } from '../../src/index.js';

const engines = loopbackEngines(29800, 20);
after(() => engines.closeAll());

const toTag = (r: SipRequest) => /;tag=([^;>\s]+)/.exec(r.headers.get('To') ?? '')?.[1];
const fromTag = (v: string | undefined) => /;tag=([^;>\s]+)/.exec(v ?? '')?.[1];

/** A 2xx to `invite` from a branch, with headers replaced (undefined: left out). */
function answer(sip: RawSip, engine: Engine, invite: SipRequest, tag: string | undefined, set: Record<string, string | undefined> = {}): void {
  const h = invite.headers;
  const fields: Record<string, string | undefined> = {
    From: h.get('From'),
    To: tag === undefined ? h.get('To') : `${h.get('To')};tag=${tag}`,
    'Call-ID': h.get('Call-ID'),
    CSeq: h.get('CSeq'),
    Contact: `<sip:${tag ?? 'x'}@127.0.0.1:${sip.port}>`,
    'Record-Route': `<sip:127.0.0.1:${sip.port};lr>`,
    ...set,
  };
  const lines = ['SIP/2.0 200 OK', ...h.getAll('Via').map((v) => `Via: ${v}`)];
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) lines.push(`${k}: ${v}`);
  lines.push('Content-Length: 0');
  sip.send(`${lines.join('\n')}\n\n`, engine.sipPort!);
}

function reply(sip: RawSip, engine: Engine, invite: SipRequest, status: number, reason: string, tag: string): void {
  const h = invite.headers;
  const lines = [`SIP/2.0 ${status} ${reason}`, ...h.getAll('Via').map((v) => `Via: ${v}`), `From: ${h.get('From')}`, `To: ${h.get('To')};tag=${tag}`, `Call-ID: ${h.get('Call-ID')}`, `CSeq: ${h.get('CSeq')}`, 'Content-Length: 0'];
  sip.send(`${lines.join('\n')}\n\n`, engine.sipPort!);
}

/** 200 OK to a request the engine sent (its BYE). */
function ok(sip: RawSip, engine: Engine, req: SipRequest): void {
  const h = req.headers;
  const lines = ['SIP/2.0 200 OK', ...h.getAll('Via').map((v) => `Via: ${v}`), `From: ${h.get('From')}`, `To: ${h.get('To')}`, `Call-ID: ${h.get('Call-ID')}`, `CSeq: ${h.get('CSeq')}`, 'Content-Length: 0'];
  sip.send(`${lines.join('\n')}\n\n`, engine.sipPort!);
}

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

/**
 * A call branch A refused (486), its leg forgotten and then its failed INVITE too: setTimeout is
 * mocked from the INVITE on, so Timer D and the linger (32 s each) pass at once; real again after.
 */
async function forgottenCall(t: TestContext): Promise<{ engine: Engine; sip: RawSip; invite: SipRequest }> {
  const engine = await engines.start();
  const sip = await new RawSip().open();
  t.mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const call = await engine.call(`sip:bob@127.0.0.1:${sip.port}`);
    const invite = await sip.request((r) => r.method === 'INVITE');
    const callId = invite.headers.get('Call-ID')!;
    reply(sip, engine, invite, 486, 'Busy Here', 'branchA');
    await sip.request((r) => r.method === 'ACK');
    assert.equal((await call.waitForEnd()).reason, 'rejected');
    for (let i = 0; i < 100 && !engine.sip!.failedInvites.has(callId); i++) await turns(1);
    assert.ok(engine.sip!.failedInvites.has(callId), 'the failed INVITE lingers');
    t.mock.timers.tick(33_000);
    await turns(5);
    assert.equal(engine.sip!.failedInvites.size, 0, 'the failed INVITE is forgotten');
    assert.equal(engine.sip!.liveLegs, 0);
    assert.equal(engine.sip!.transactions.size.client, 0, 'Timer D over: no INVITE transaction');
    return { engine, sip, invite };
  } finally {
    t.mock.timers.reset();
  }
}

test('a 2xx after the failed call is forgotten: ACKed, then one BYE; its retransmissions ACKed again', { timeout: 20_000 }, async (t) => {
  const { engine, sip, invite } = await forgottenCall(t);
  answer(sip, engine, invite, 'branchB');
  const ack = await sip.request((r) => r.method === 'ACK');
  assert.equal(toTag(ack), 'branchB');
  assert.equal(ack.uri.kind === 'sip' && ack.uri.user, 'branchB', 'ACK to the 2xx’s Contact');
  assert.equal(ack.headers.get('CSeq'), invite.headers.get('CSeq')!.replace('INVITE', 'ACK'));
  assert.equal(ack.headers.get('Call-ID'), invite.headers.get('Call-ID'));
  assert.equal(fromTag(ack.headers.get('From')), fromTag(invite.headers.get('From')));
  assert.equal(ack.headers.get('Route'), `<sip:127.0.0.1:${sip.port};lr>`, 'through the route set');
  const bye = await sip.request((r) => r.method === 'BYE');
  assert.equal(toTag(bye), 'branchB');
  assert.equal(bye.uri.kind === 'sip' && bye.uri.user, 'branchB', 'BYE to the 2xx’s Contact');
  assert.equal(bye.headers.get('CSeq'), `${Number.parseInt(invite.headers.get('CSeq')!, 10) + 1} BYE`);
  assert.equal(bye.headers.get('Call-ID'), invite.headers.get('Call-ID'));
  assert.equal(fromTag(bye.headers.get('From')), fromTag(invite.headers.get('From')));
  assert.equal(bye.headers.get('Route'), `<sip:127.0.0.1:${sip.port};lr>`);
  ok(sip, engine, bye);
  // B's 2xx again (our ACK lost): another ACK, no second BYE.
  answer(sip, engine, invite, 'branchB');
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchB');
  await assert.rejects(sip.request((r) => r.method === 'BYE', 400), /no matching SIP request/);
  // Another branch answering late is another dialog: its own ACK and BYE.
  answer(sip, engine, invite, 'branchC');
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'branchC');
  const byeC = await sip.request((r) => r.method === 'BYE');
  assert.equal(toTag(byeC), 'branchC');
  ok(sip, engine, byeC);
  assert.equal(engine.sip!.liveLegs, 0, 'no leg made for them');
  assert.equal(engine.sip!.stats.forgotten2xxEnded, 2);
  assert.equal(sample(await engine.metrics(), 'callchart_sip_forgotten_2xx_ended_total'), 2);
  sip.close();
});

test('a late 2xx whose From tag does not verify, or that is malformed, gets nothing back', { timeout: 20_000 }, async (t) => {
  const { engine, sip, invite } = await forgottenCall(t);
  const from = invite.headers.get('From')!;
  const tag = fromTag(from)!;
  const forged = tag.slice(0, -1) + (tag.endsWith('0') ? '1' : '0');
  const before = sip.datagrams;
  // Forged: our tag with its last character changed; the tag under another Call-ID; a foreign 2xx.
  answer(sip, engine, invite, 'b1', { From: from.replace(tag, forged) });
  answer(sip, engine, invite, 'b2', { 'Call-ID': `other-${invite.headers.get('Call-ID')}` });
  answer(sip, engine, invite, 'b3', { From: '<sip:alice@127.0.0.1>;tag=a1', 'Call-ID': 'foreign@127.0.0.1' });
  // Ours, but malformed: no Contact, a Contact that is no SIP URI, no To tag, a Record-Route that
  // is no SIP URI; an unreadable Contact or Record-Route (the parser drops those before the UA).
  answer(sip, engine, invite, 'b4', { Contact: undefined });
  answer(sip, engine, invite, 'b5', { Contact: '<http://127.0.0.1/x>' });
  answer(sip, engine, invite, 'b6', { Contact: '<sip:@@@>' });
  answer(sip, engine, invite, undefined);
  answer(sip, engine, invite, 'b7', { 'Record-Route': '<http://127.0.0.1/rr>' });
  answer(sip, engine, invite, 'b9', { 'Record-Route': '<nonsense' });
  await sleep(500);
  assert.equal(sip.datagrams, before, 'not one datagram back');
  assert.equal(engine.sip!.stats.stray2xxDropped, 7);
  assert.equal(sample(await engine.metrics(), 'callchart_sip_stray_2xx_dropped_total'), 7);
  assert.equal(engine.sip!.stats.forgotten2xxEnded, 0);
  // The engine is still there: the well-formed 2xx is answered.
  answer(sip, engine, invite, 'b8');
  assert.equal(toTag(await sip.request((r) => r.method === 'ACK')), 'b8');
  ok(sip, engine, await sip.request((r) => r.method === 'BYE'));
  sip.close();
});

test('a late 2xx naming a third party as Contact and Record-Route: ACK and BYE go to where it came from', { timeout: 20_000 }, async (t) => {
  const { engine, sip, invite } = await forgottenCall(t);
  const third = await new RawSip().open('127.0.0.3');
  answer(sip, engine, invite, 'branchB', { Contact: `<sip:victim@127.0.0.3:${third.port}>`, 'Record-Route': `<sip:127.0.0.3:${third.port};lr>` });
  const ack = await sip.request((r) => r.method === 'ACK');
  assert.equal(ack.headers.get('Route'), `<sip:127.0.0.3:${third.port};lr>`, 'the route set kept in the message');
  assert.equal(ack.uri.kind === 'sip' && ack.uri.user, 'victim');
  ok(sip, engine, await sip.request((r) => r.method === 'BYE'));
  await sleep(300);
  assert.equal(third.datagrams, 0, 'nothing to the third party');
  third.close();
  sip.close();
});

test('after a restart with the same sip.tagSecret, a 2xx to the previous process\'s INVITE is ACKed and sent one BYE; under a new secret it gets nothing', { timeout: 20_000 }, async () => {
  const tagSecret = Buffer.from('0123456789abcdef0123456789abcdef');
  const first = await engines.start({ sip: { tagSecret } });
  const port = first.sipPort!;
  const sip = await new RawSip().open();
  void first.call(`sip:bob@127.0.0.1:${sip.port}`).catch(() => {});
  const invite = await sip.request((r) => r.method === 'INVITE');
  await first.close();
  // The same address, a new process's state: nothing of the call is known there.
  const fresh = await engines.start({ sipPort: port });
  const before = sip.datagrams;
  answer(sip, fresh, invite, 'branchB');
  await sleep(300);
  assert.equal(sip.datagrams, before, 'a new secret: the tag does not verify, nothing back');
  assert.equal(fresh.sip!.stats.stray2xxDropped, 1);
  await fresh.close();
  const again = await engines.start({ sipPort: port, sip: { tagSecret } });
  answer(sip, again, invite, 'branchB');
  const ack = await sip.request((r) => r.method === 'ACK');
  assert.equal(toTag(ack), 'branchB');
  assert.equal(fromTag(ack.headers.get('From')), fromTag(invite.headers.get('From')));
  const bye = await sip.request((r) => r.method === 'BYE');
  assert.equal(toTag(bye), 'branchB');
  ok(sip, again, bye);
  assert.equal(again.sip!.stats.forgotten2xxEnded, 1);
  assert.equal(again.sip!.liveLegs, 0);
  sip.close();
});
