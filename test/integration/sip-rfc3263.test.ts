// RFC 3263 for outbound calls over real UDP on loopback, with a fake DNS: the engine calls a
// domain, NAPTR/SRV/A give it two servers, and it fails over from the first to the second when
// the first answers 503 or does not answer at all (§4.3). Fails on a UAC that tries one target.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { NaptrRecord, SrvRecord } from 'node:dns';
import { createEngine, type Engine } from '../../src/index.js';
import { createResponse, serialize, type SipRequest } from '../../src/sip/codec/message.js';
import type { SipDnsResolver } from '../../src/sip/resolve/rfc3263.js';
import { RawSip } from '../helpers/raw-sip.js';

const engines: Engine[] = [];
const peers: RawSip[] = [];
after(async () => {
  for (const p of peers) p.close();
  await Promise.all(engines.map((e) => e.close()));
});

function fakeDns(first: number, second: number): SipDnsResolver {
  const none = () => Promise.reject(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }));
  const naptr: NaptrRecord[] = [{ flags: 's', service: 'SIP+D2U', regexp: '', replacement: '_sip._udp.pbx.example', order: 10, preference: 10 }];
  const srv: SrvRecord[] = [
    { priority: 20, weight: 0, port: second, name: 'backup.pbx.example' },
    { priority: 10, weight: 0, port: first, name: 'main.pbx.example' },
  ];
  return {
    resolveNaptr: (n) => (n === 'pbx.example' ? Promise.resolve(naptr) : none()),
    resolveSrv: (n) => (n === '_sip._udp.pbx.example' ? Promise.resolve(srv) : none()),
    resolve4: (n) => (n.endsWith('pbx.example') ? Promise.resolve(['127.0.0.1']) : none()),
    resolve6: () => none(),
  };
}

async function setup(rtp: string): Promise<{ engine: Engine; first: RawSip; second: RawSip }> {
  const first = await new RawSip().open();
  const second = await new RawSip().open();
  peers.push(first, second);
  const engine = createEngine({
    host: '127.0.0.1',
    wsPort: 0,
    sipPort: 0,
    rtpPorts: rtp,
    inboundCall: false,
    sip: { resolver: fakeDns(first.port, second.port), timers: { t1: 20 } },
  });
  engines.push(engine);
  await engine.listen();
  return { engine, first, second };
}

const reply = (peer: RawSip, req: SipRequest, status: number, enginePort: number) =>
  peer.sock.send(serialize(createResponse(req, status, undefined, { toTag: 'srv1' })), enginePort, '127.0.0.1');

test('a 503 from the first SRV target sends the INVITE to the next one', async () => {
  const { engine, first, second } = await setup('38400-38449');
  const call = await engine.call('sip:bob@pbx.example');
  const inv1 = await first.request((r) => r.method === 'INVITE');
  reply(first, inv1, 503, engine.sipPort!);
  const inv2 = await second.request((r) => r.method === 'INVITE');
  assert.equal(inv2.headers.get('Call-ID'), inv1.headers.get('Call-ID'), 'the same call');
  assert.equal(inv2.headers.get('CSeq'), inv1.headers.get('CSeq'), 'an identical request…');
  assert.notEqual(inv2.headers.get('Via'), inv1.headers.get('Via'), '…but a new transaction (branch)');
  reply(second, inv2, 486, engine.sipPort!);
  const end = await call.waitForEnd();
  assert.equal(end.reason, 'rejected');
  assert.equal(end.code, 486, 'the second server had the last word');
});

test('a first target that never answers is abandoned at Timer B for the next one', async () => {
  const { engine, first, second } = await setup('38450-38499');
  const call = await engine.call('sip:bob@pbx.example');
  await first.request((r) => r.method === 'INVITE');
  const inv2 = await second.request((r) => r.method === 'INVITE', 5000);
  reply(second, inv2, 480, engine.sipPort!);
  const end = await call.waitForEnd();
  assert.equal(end.code, 480);
});
