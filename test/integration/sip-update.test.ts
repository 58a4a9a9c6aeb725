// UPDATE in a dialog (RFC 3311) from a raw SIP client over loopback: a refresh without a body, an
// offer answered in the 200 (hold shows on the call), and the offers §5.2 refuses.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Call } from '../../src/index.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { RawSip, request } from '../helpers/raw-sip.js';

const engines = loopbackEngines(36800, 40);
after(() => engines.closeAll());

const sdp = (dir: string) => `v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40040 RTP/AVP 0\na=${dir}\n`;

test('UPDATE: a refresh gets 200; an offer is answered in the 200 and can put the call on hold', async () => {
  const calls: Call[] = [];
  const e = await engines.start({ onIncomingCall: (call) => (calls.push(call), { action: 'accept' }) });
  const port = e.sipPort!;
  const c = await new RawSip().open();
  c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': 'upd-1@x' }, sdp('sendrecv')), port);
  const ok = await c.response((r) => r.status === 200);
  const to = ok.headers.get('To')!;
  c.send(request('ACK', port, c.port, { 'Call-ID': 'upd-1@x', To: to }), port);
  assert.match(ok.headers.getAll('Allow').join(','), /UPDATE/, 'Allow names UPDATE');

  c.send(request('UPDATE', port, c.port, { 'Call-ID': 'upd-1@x', To: to, CSeq: '2 UPDATE' }), port);
  const refresh = await c.response((r) => r.headers.get('CSeq') === '2 UPDATE');
  assert.equal(refresh.status, 200);
  assert.equal(refresh.body.length, 0);

  c.send(request('UPDATE', port, c.port, { 'Call-ID': 'upd-1@x', To: to, CSeq: '3 UPDATE', 'Content-Type': 'application/sdp' }, sdp('sendonly')), port);
  const held = await c.response((r) => r.headers.get('CSeq') === '3 UPDATE');
  assert.equal(held.status, 200);
  assert.match(held.body.toString(), /a=recvonly/, 'a sendonly offer is answered recvonly');
  assert.match(calls[0]!.state, /held/);

  c.send(request('UPDATE', port, c.port, { 'Call-ID': 'upd-1@x', To: to, CSeq: '4 UPDATE', 'Content-Type': 'text/plain' }, 'hello'), port);
  assert.equal((await c.response((r) => r.headers.get('CSeq') === '4 UPDATE')).status, 415);
  assert.equal(calls[0]!.isActive, true);
  c.close();
});

test('UPDATE with an offer before the INVITE is answered gets 500 with Retry-After (RFC 3311 §5.2)', async () => {
  const e = await engines.start({ onIncomingCall: () => ({ action: 'defer' }) });
  const port = e.sipPort!;
  const c = await new RawSip().open();
  c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': 'upd-2@x' }, sdp('sendrecv')), port);
  const ringing = await c.response((r) => r.status === 180);
  const to = ringing.headers.get('To')!;
  c.send(request('UPDATE', port, c.port, { 'Call-ID': 'upd-2@x', To: to, CSeq: '2 UPDATE', 'Content-Type': 'application/sdp' }, sdp('sendonly')), port);
  const res = await c.response((r) => r.headers.get('CSeq') === '2 UPDATE');
  assert.equal(res.status, 500);
  assert.match(res.headers.get('Retry-After') ?? '', /^\d+$/);
  c.close();
});
