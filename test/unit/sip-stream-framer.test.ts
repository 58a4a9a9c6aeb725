// The stream framer (src/sip/transport/stream-framer.ts): Content-Length framing over any split or
// merge of segments, RFC 5626 keep-alives, and the limits that bound a hostile connection.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StreamFramer, type FramerEvent } from '../../src/sip/transport/stream-framer.js';

const msg = (id: string, body = ''): string =>
  [
    'INVITE sip:u@example.com SIP/2.0',
    'Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK' + id,
    `Call-ID: ${id}`,
    'CSeq: 1 INVITE',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');

const messages = (evs: FramerEvent[]) => evs.filter((e) => e.type === 'message').map((e) => (e.type === 'message' ? e.bytes.toString() : ''));

describe('StreamFramer', () => {
  it('frames back-to-back messages in one segment, body by Content-Length', () => {
    const a = msg('a', 'v=0\r\n');
    const b = msg('b');
    const c = msg('c', 'x'.repeat(100));
    const f = new StreamFramer();
    assert.deepEqual(messages(f.push(Buffer.from(a + b + c))), [a, b, c]);
    assert.equal(f.buffered, 0);
  });

  it('frames the same bytes split at every offset', () => {
    const all = msg('a', 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n') + '\r\n\r\n' + msg('b');
    for (let i = 1; i < all.length; i++) {
      const f = new StreamFramer();
      const evs = [...f.push(Buffer.from(all.slice(0, i))), ...f.push(Buffer.from(all.slice(i)))];
      assert.equal(messages(evs).length, 2, `split at ${i}`);
      assert.equal(evs.filter((e) => e.type === 'ping').length, 1, `one ping, split at ${i}`);
      assert.equal(f.buffered, 0);
    }
  });

  it('frames a message fed one byte at a time', () => {
    const m = msg('drip', 'hello');
    const f = new StreamFramer();
    const evs = [...Buffer.from(m)].flatMap((byte) => f.push(Buffer.from([byte])));
    assert.deepEqual(messages(evs), [m]);
  });

  it('reads a compact l: header and a missing one as 0', () => {
    const compact = 'OPTIONS sip:u@h SIP/2.0\r\nl: 3\r\n\r\nabcOPTIONS sip:u@h SIP/2.0\r\n\r\n';
    const evs = new StreamFramer().push(Buffer.from(compact));
    assert.deepEqual(messages(evs), ['OPTIONS sip:u@h SIP/2.0\r\nl: 3\r\n\r\nabc', 'OPTIONS sip:u@h SIP/2.0\r\n\r\n']);
  });

  it('answers keep-alives: CRLFCRLF is a ping, a lone CRLF a pong', () => {
    const f = new StreamFramer();
    assert.deepEqual(f.push(Buffer.from('\r\n\r\n')), [{ type: 'ping' }]);
    assert.deepEqual(f.push(Buffer.from('\r\n')), [], 'a lone CRLF waits: it may be half a ping');
    assert.deepEqual(f.push(Buffer.from('\r\n')), [{ type: 'ping' }]);
    const evs = f.push(Buffer.from('\r\n' + msg('p')));
    assert.deepEqual(evs.map((e) => e.type), ['pong', 'message']);
  });

  it('refuses a never-ending header section at maxHeaderBytes with 513 and stops', () => {
    const f = new StreamFramer({ maxHeaderBytes: 1024 });
    const start = 'INVITE sip:u@h SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKx\r\n';
    assert.deepEqual(f.push(Buffer.from(start)), []);
    let evs: FramerEvent[] = [];
    for (let i = 0; i < 100 && evs.length === 0; i++) evs = f.push(Buffer.from('X-Junk: ' + 'y'.repeat(40) + '\r\n'));
    assert.equal(evs.length, 1);
    const e = evs[0]!;
    assert.ok(e.type === 'error');
    assert.equal(e.status, 513);
    assert.ok(e.head.length <= 1024);
    assert.ok(e.head.toString().startsWith(start), 'the head is kept to answer from');
    assert.equal(f.buffered, 0, 'nothing is held after the error');
    assert.deepEqual(f.push(Buffer.from(msg('late'))), [], 'the stream is dead after an error');
  });

  it('refuses a declared body over maxMessageBytes before buffering it', () => {
    const f = new StreamFramer({ maxMessageBytes: 2000 });
    const evs = f.push(Buffer.from(msg('big').replace('Content-Length: 0', 'Content-Length: 100000000')));
    assert.equal(evs.length, 1);
    assert.ok(evs[0]!.type === 'error' && evs[0]!.status === 513);
  });

  it('refuses an unreadable or contradictory Content-Length with 400', () => {
    for (const bad of ['Content-Length: -1', 'Content-Length: ten', 'Content-Length: 0\r\nl: 5']) {
      const evs = new StreamFramer().push(Buffer.from(msg('bad').replace('Content-Length: 0', bad)));
      assert.equal(evs.length, 1, bad);
      assert.ok(evs[0]!.type === 'error' && evs[0]!.status === 400, bad);
    }
  });

  it('holds at most one message while waiting for its body', () => {
    const m = msg('half', 'b'.repeat(500));
    const f = new StreamFramer();
    assert.deepEqual(f.push(Buffer.from(m.slice(0, m.length - 10))), []);
    assert.equal(f.buffered, m.length - 10);
    assert.deepEqual(messages(f.push(Buffer.from(m.slice(m.length - 10)))), [m]);
  });
});
