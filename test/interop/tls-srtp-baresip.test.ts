// SIP over TLS with SRTP between real softphones: two baresips register to callchart over TLS
// (digest auth, `;transport=tls`, the srtp module with `srtp-mand`, RTP/SAVP), and alice calls bob
// through callchart (the demo app connects the call to bob's binding). bob has no TLS listener of
// its own (no certificate), as a client behind NAT would not: callchart reaches it over the
// connection it registered on. Each must hear the other's tone, decrypted, and both legs must
// have run SRTP with nothing failing authentication.
// Needs `baresip` with its srtp module and `openssl` (a throwaway self-signed pair is made here).
// Run: npm run test:interop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createEngine, demoApp, type Call, type Engine } from '../../src/index.js';
import { withDiagnostics, assertHearEachOther } from './helpers/baresip-audio.js';
import { startBaresip, requireBaresip, BARESIP_MODULE_PATH } from './helpers/baresip.js';
import { eventually } from './helpers/engine.js';
import { requireBinary, sleep } from './helpers/procs.js';

const root = mkdtempSync(path.join(tmpdir(), 'callchart-tls-srtp-'));
let cert = '';
let key = '';

before(() => {
  requireBaresip();
  if (!existsSync(path.join(BARESIP_MODULE_PATH, 'srtp.so'))) throw new Error(`baresip's srtp module is missing (${BARESIP_MODULE_PATH}/srtp.so)`);
  const openssl = requireBinary('openssl', 'openssl');
  execFileSync(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(root, 'key.pem'), '-out', path.join(root, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  cert = readFileSync(path.join(root, 'cert.pem'), 'utf8');
  key = readFileSync(path.join(root, 'key.pem'), 'utf8');
});
after(() => rmSync(root, { recursive: true, force: true }));

type SrtpStats = { srtp: { suite: string; authFailed: number; replayed: number; malformed: number } | null; packetsSent: number; receive: { packetsReceived: number } };

test('two baresips register over TLS and call each other through callchart with SRTP; each hears the other', { timeout: 90_000 }, async () => {
  const users = { alice: 'alice-secret', bob: 'bob-secret' };
  const engine: Engine = createEngine({
    host: '127.0.0.1',
    sipPort: 0,
    rtpPorts: '30500-30599',
    sip: { auth: { realm: '127.0.0.1', users }, tlsPort: 0, tls: { cert, key }, srtp: 'required' },
    onIncomingCall: demoApp({ registrar: () => engine }),
  });
  const calls: Call[] = [];
  engine.on('call', (c) => calls.push(c));
  await engine.listen();
  const port = engine.sipTlsPort!;
  const cafile = path.join(root, 'cert.pem');
  const alice = await startBaresip({ user: 'alice', sineHz: 500, register: { port, password: users.alice }, tls: { cafile }, mediaenc: 'srtp-mand', recordTo: path.join(root, 'alice'), timeoutMs: 80_000 });
  const bob = await startBaresip({ user: 'bob', sineHz: 1500, register: { port, password: users.bob }, tls: { cafile }, mediaenc: 'srtp-mand', recordTo: path.join(root, 'bob'), timeoutMs: 80_000 });
  try {
    await eventually(() => engine.registrations.lookup('alice').length === 1 && engine.registrations.lookup('bob').length === 1, 10_000, 'alice and bob registered');
    const [b] = engine.registrations.lookup('bob');
    assert.equal(b?.source.transport, 'tls', 'bob registered over TLS');
    assert.match(b!.contact, /;transport=tls/i);

    const dialed = await alice.dial(`sip:bob@127.0.0.1:${port}`);
    assert.ok(dialed.ok, dialed.data);
    await bob.waitFor((ev) => ev.type === 'CALL_ESTABLISHED' && ev.direction === 'incoming', 10_000, 'bob answered');
    await alice.waitFor((ev) => ev.type === 'CALL_ESTABLISHED' && ev.direction === 'outgoing', 10_000, 'alice connected');
    await sleep(3000);
    assert.equal(calls.length, 2, 'two legs: alice → callchart, callchart → bob');
    for (const c of calls) {
      const st = c.stats() as unknown as SrtpStats;
      assert.ok(st.srtp, `${c.direction} leg ran SRTP`);
      assert.match(st.srtp.suite, /^AES_CM_128_HMAC_SHA1_(80|32)$/);
      // baresip sends one plain 16-byte RTCP APP packet as a call starts: dropped as malformed, not unauthentic.
      assert.equal(st.srtp.authFailed, 0, `${c.direction} leg: no packet failed authentication (${JSON.stringify(st.srtp)})`);
      assert.equal(st.srtp.replayed, 0);
      assert.ok(st.receive.packetsReceived > 50, `${c.direction} leg received SRTP (${st.receive.packetsReceived})`);
    }
    await alice.hangup();
    await alice.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, 'alice CALL_CLOSED');
    await bob.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, 'bob CALL_CLOSED (callchart hung up the other leg)');

    await assertHearEachOther(alice, bob);
  } catch (err) {
    withDiagnostics(err, [alice, bob]);
  } finally {
    await alice.stop();
    await bob.stop();
    await engine.close();
  }
});
