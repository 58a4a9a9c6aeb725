// The relayed stream transport of a SIP worker thread (src/sip/transport/relayed-stream.ts) against
// a fake router: its connection table follows what the router says (message in, closed, failed),
// sends name the connection the peer last used, and holds reach the router once per peer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SipRelayedStreamTransport, type SipStreamRelay, type SipStreamRelayHandlers } from '../../src/sip/transport/relayed-stream.js';
import type { Endpoint, SipStreamKind } from '../../src/sip/transport/types.js';
import { silentLogger } from '../../src/logger.js';

function fakeRelay() {
  const sent: { kind: SipStreamKind; text: string; to: Endpoint; conn: number | undefined }[] = [];
  const holds: { to: Endpoint; on: boolean }[] = [];
  let handlers: SipStreamRelayHandlers | undefined;
  const relay: SipStreamRelay = {
    ports: { tcp: 5070 },
    subscribe(_kind, h) {
      handlers = h;
      return () => (handlers = undefined);
    },
    send: (kind, bytes, to, conn) => void sent.push({ kind, text: bytes.toString(), to, conn }),
    hold: (_kind, to, on) => void holds.push({ to, on }),
  };
  return { relay, sent, holds, router: () => handlers! };
}

test('sends go on the connection the peer last used; a closed or failed one is forgotten', async () => {
  const { relay, sent, router } = fakeRelay();
  const delivered: Endpoint[] = [];
  const t = new SipRelayedStreamTransport({ kind: 'tcp', relay, logger: silentLogger(), deliver: (_b, from) => void delivered.push(from) });
  assert.equal(t.port, 5070, "the router's port names this transport in Via and Contact");
  assert.equal(t.sendBytes(Buffer.from('x'), { address: '192.0.2.1', port: 5060, transport: 'tcp' }), false, 'nothing before listen()');
  await t.listen();
  const peer: Endpoint = { address: '192.0.2.1', port: 40000, transport: 'tcp' };
  router().message(Buffer.from('INVITE'), peer, 7);
  assert.deepEqual(delivered, [peer]);
  assert.equal(t.connected(peer), true);
  t.sendBytes(Buffer.from('200'), peer);
  router().message(Buffer.from('BYE'), peer, 9); // the peer reconnected from the same port
  t.sendBytes(Buffer.from('200 BYE'), peer);
  router().closed(7); // the old connection's close does not unmap the new one
  assert.equal(t.connected(peer), true);
  router().failed(9, peer, 'connection closed');
  assert.equal(t.connected(peer), false);
  t.sendBytes(Buffer.from('BYE'), peer);
  assert.deepEqual(sent.map((s) => [s.text, s.conn]), [['200', 7], ['200 BYE', 9], ['BYE', undefined]]);
  assert.deepEqual(t.stats, { received: 2, sent: 3, failed: 1, closed: 0 });
  await t.close();
  assert.equal(t.sendBytes(Buffer.from('x'), peer), false, 'nothing after close()');
});

test('holds: the router is told on the first and after the last per peer; close() releases the rest', async () => {
  const { relay, holds } = fakeRelay();
  const t = new SipRelayedStreamTransport({ kind: 'tcp', relay, logger: silentLogger(), deliver: () => {} });
  await t.listen();
  const a: Endpoint = { address: '192.0.2.1', port: 40000, transport: 'tcp' };
  const b: Endpoint = { address: '192.0.2.2', port: 40000, transport: 'tcp' };
  const r1 = t.hold(a);
  const r2 = t.hold(a);
  t.hold(b);
  r1();
  r1(); // twice is once
  assert.deepEqual(holds.map((h) => [h.to.address, h.on]), [['192.0.2.1', true], ['192.0.2.2', true]]);
  r2();
  assert.deepEqual(holds.at(-1), { to: a, on: false });
  await t.close();
  assert.deepEqual(holds.map((h) => [h.to.address, h.on]).at(-1), ['192.0.2.2', false]);
  assert.equal(holds.length, 4);
});
