// `engine.call(target, { nextHop })`: the INVITE goes to the given address instead of the one the
// target resolves to (an outbound proxy). The target's host here does not resolve at all
// (`.invalid`, RFC 2606), so only the next hop can have carried the call; the Request-URI is kept.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import type { Call } from '../../src/index.js';

const engines = loopbackEngines(38900, 50);
after(() => engines.closeAll());

test('nextHop: a call to an unresolvable host reaches the engine named as next hop, Request-URI intact', { timeout: 15_000 }, async () => {
  const offered: Call[] = [];
  const b = await engines.start({ onIncomingCall: (c) => (offered.push(c), { action: 'accept' }) });
  const a = await engines.start();
  const call = await a.call('sip:carol@pbx.invalid', { nextHop: { address: '127.0.0.1', port: b.sipPort! } });
  await new Promise<void>((resolve, reject) => {
    call.once('answered', () => resolve());
    call.once('ended', (e) => reject(new Error(`ended before answer: ${JSON.stringify(e)}`)));
  });
  assert.equal(offered.length, 1);
  assert.equal(offered[0]!.to, 'sip:carol@pbx.invalid');
  call.hangup();
  const end = await offered[0]!.waitForEnd();
  assert.equal(end.reason, 'remote-hangup');
});

test('nextHop over a transport that is not configured is refused at once', async () => {
  const a = await engines.start();
  await assert.rejects(a.call('sip:carol@pbx.invalid', { nextHop: { address: '127.0.0.1', port: 5061, transport: 'tls' } }), /needs SIP over TLS/);
});
