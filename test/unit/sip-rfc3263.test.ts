// RFC 3263 server location against a fake resolver: NAPTR picks the transport, SRV orders hosts
// by priority and weight, A gives addresses; numeric hosts and explicit ports skip the DNS.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NaptrRecord, SrvRecord } from 'node:dns';
import { orderSrv, resolveSipTargets, type SipDnsResolver } from '../../src/sip/resolve/rfc3263.js';
import { parseUri, type SipUri } from '../../src/sip/codec/uri.js';

interface Zone {
  naptr?: Record<string, NaptrRecord[]>;
  srv?: Record<string, SrvRecord[]>;
  a?: Record<string, string[]>;
}

function fake(zone: Zone): SipDnsResolver & { asked: string[] } {
  const asked: string[] = [];
  const get = <T>(kind: string, table: Record<string, T[]> | undefined, name: string): Promise<T[]> => {
    asked.push(`${kind} ${name}`);
    const v = table?.[name];
    return v ? Promise.resolve(v) : Promise.reject(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }));
  };
  return {
    asked,
    resolveNaptr: (n) => get('NAPTR', zone.naptr, n),
    resolveSrv: (n) => get('SRV', zone.srv, n),
    resolve4: (n) => get('A', zone.a, n),
    resolve6: (n) => get('AAAA', undefined, n),
  };
}

const uri = (s: string) => parseUri(s) as SipUri;
const naptr = (order: number, preference: number, service: string, replacement: string): NaptrRecord => ({ flags: 's', service, regexp: '', replacement, order, preference });
const srv = (priority: number, weight: number, port: number, name: string): SrvRecord => ({ priority, weight, port, name });
const all = ['udp', 'tcp', 'tls'] as const;

describe('resolveSipTargets (RFC 3263 §4)', () => {
  it('uses a numeric host as it is, without any lookup', async () => {
    const r = fake({});
    assert.deepEqual(await resolveSipTargets(uri('sip:bob@192.0.2.5:5070;transport=tcp'), { resolver: r, supported: all }), [{ address: '192.0.2.5', port: 5070, transport: 'tcp' }]);
    assert.deepEqual(await resolveSipTargets(uri('sips:bob@192.0.2.5'), { resolver: r, supported: all }), [{ address: '192.0.2.5', port: 5061, transport: 'tls' }]);
    assert.deepEqual(r.asked, []);
  });

  it('follows NAPTR → SRV → A, in NAPTR order and only over supported transports', async () => {
    const zone: Zone = {
      naptr: { 'example.com': [naptr(20, 10, 'SIP+D2U', '_sip._udp.example.com'), naptr(10, 10, 'SIP+D2T', '_sip._tcp.example.com'), naptr(5, 10, 'SIPS+D2T', '_sips._tcp.example.com')] },
      srv: { '_sip._tcp.example.com': [srv(10, 0, 5080, 'pbx1.example.com')], '_sip._udp.example.com': [srv(10, 0, 5060, 'pbx2.example.com')] },
      a: { 'pbx1.example.com': ['192.0.2.1'], 'pbx2.example.com': ['192.0.2.2'] },
    };
    const r = fake(zone);
    // TLS is not supported here, so SIPS+D2T (order 5) is skipped; TCP (order 10) wins.
    assert.deepEqual(await resolveSipTargets(uri('sip:bob@example.com'), { resolver: r, supported: ['udp', 'tcp'] }), [{ address: '192.0.2.1', port: 5080, transport: 'tcp' }]);
    assert.deepEqual(await resolveSipTargets(uri('sip:bob@example.com'), { resolver: fake(zone), supported: ['udp'] }), [{ address: '192.0.2.2', port: 5060, transport: 'udp' }]);
  });

  it('orders SRV targets by priority, so a failed first target has a next one', async () => {
    const zone: Zone = {
      srv: { '_sip._udp.example.net': [srv(20, 0, 5060, 'backup.example.net'), srv(10, 0, 5062, 'main.example.net')] },
      a: { 'main.example.net': ['198.51.100.1'], 'backup.example.net': ['198.51.100.2', '198.51.100.3'] },
    };
    const t = await resolveSipTargets(uri('sip:bob@example.net'), { resolver: fake(zone), supported: ['udp'] });
    assert.deepEqual(t.map((x) => `${x.address}:${x.port}`), ['198.51.100.1:5062', '198.51.100.2:5060', '198.51.100.3:5060']);
  });

  it('without NAPTR or SRV, takes the host address with the default transport and port', async () => {
    const r = fake({ a: { 'plain.example.org': ['203.0.113.9'] } });
    assert.deepEqual(await resolveSipTargets(uri('sip:bob@plain.example.org'), { resolver: r, supported: all }), [{ address: '203.0.113.9', port: 5060, transport: 'udp' }]);
    assert.deepEqual(r.asked, ['NAPTR plain.example.org', 'SRV _sips._tcp.plain.example.org', 'SRV _sip._tcp.plain.example.org', 'SRV _sip._udp.plain.example.org', 'A plain.example.org']);
  });

  it('an explicit port skips NAPTR and SRV; an explicit transport goes straight to its SRV', async () => {
    const r = fake({ a: { 'h.example': ['192.0.2.7'] }, srv: { '_sip._tcp.h.example': [srv(1, 1, 5090, 'h.example')] } });
    assert.deepEqual(await resolveSipTargets(uri('sip:bob@h.example:5099'), { resolver: r, supported: all }), [{ address: '192.0.2.7', port: 5099, transport: 'udp' }]);
    assert.deepEqual(await resolveSipTargets(uri('sip:bob@h.example;transport=tcp'), { resolver: r, supported: all }), [{ address: '192.0.2.7', port: 5090, transport: 'tcp' }]);
    assert.ok(!r.asked.some((q) => q.startsWith('NAPTR')));
  });

  it('a sips: URI never falls back to an insecure transport', async () => {
    const r = fake({ naptr: { 's.example': [naptr(1, 1, 'SIP+D2U', '_sip._udp.s.example')] }, srv: { '_sip._udp.s.example': [srv(1, 1, 5060, 's.example')] }, a: { 's.example': ['192.0.2.8'] } });
    assert.deepEqual(await resolveSipTargets(uri('sips:bob@s.example'), { resolver: r, supported: ['udp', 'tcp'] }), []);
  });
});

describe('orderSrv (RFC 2782)', () => {
  it('sorts by priority and draws by weight within one', () => {
    const recs = [srv(10, 90, 1, 'heavy'), srv(10, 10, 2, 'light'), srv(5, 0, 3, 'first')];
    assert.deepEqual(orderSrv(recs, () => 0).map((r) => r.name), ['first', 'heavy', 'light']);
    assert.deepEqual(orderSrv(recs, () => 0.95).map((r) => r.name), ['first', 'light', 'heavy']);
    // Over many draws the heavy one leads about 90 % of the time.
    let seed = 1;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    let heavyFirst = 0;
    for (let i = 0; i < 2000; i++) if (orderSrv(recs, rnd)[1]!.name === 'heavy') heavyFirst++;
    assert.ok(heavyFirst > 1650 && heavyFirst < 1950, `heavy first ${heavyFirst}/2000`);
  });
});
