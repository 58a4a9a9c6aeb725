// The SIP wire counter's start-line classifier: every method in its own slot, responses by class,
// look-alikes (INVITEX, SIP/3, SUBSCRIBE vs SIP/2.0) not confused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SIP_METHODS, SipWireCounts, methodIndex, statusClassIndex } from '../../src/metrics/sip-wire.js';

const b = (s: string) => Buffer.from(s);

test('each known method lands in its own slot; unknown and look-alike ones in other', () => {
  for (const [i, m] of SIP_METHODS.entries()) {
    if (m === 'other') continue;
    assert.equal(methodIndex(b(`${m} sip:x@y SIP/2.0\r\n`)), i, m);
  }
  const other = SIP_METHODS.indexOf('other');
  for (const s of ['INVITEX sip:x SIP/2.0', 'INV', 'FOO sip:x SIP/2.0', 'invite sip:x SIP/2.0', '', 'REFERS x']) assert.equal(methodIndex(b(s)), other, s);
});

test('responses by status class; non-responses are -1', () => {
  assert.equal(statusClassIndex(b('SIP/2.0 100 Trying\r\n')), 0);
  assert.equal(statusClassIndex(b('SIP/2.0 200 OK\r\n')), 1);
  assert.equal(statusClassIndex(b('SIP/2.0 486 Busy Here\r\n')), 3);
  assert.equal(statusClassIndex(b('SIP/2.0 603 Decline\r\n')), 5);
  assert.equal(statusClassIndex(b('SIP/2.0 700 Odd\r\n')), -1);
  assert.equal(statusClassIndex(b('SUBSCRIBE sip:x SIP/2.0\r\n')), -1);
});

test('SipWireCounts counts in and out separately', () => {
  const w = new SipWireCounts();
  w.received(b('INVITE sip:x SIP/2.0\r\n'));
  w.sent(b('SIP/2.0 180 Ringing\r\n'));
  w.sent(b('SIP/2.0 200 OK\r\n'));
  w.sent(b('SIP/2.0 200 OK\r\n'));
  assert.equal(w.requestsIn[0], 1);
  assert.equal(w.requestsOut[0], 0);
  assert.deepEqual(w.responsesOut, [1, 2, 0, 0, 0, 0]);
});
