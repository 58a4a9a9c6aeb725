// Parser strictness where RFC 4475 asks for it (issue 16, item 7): a request missing To, From,
// Call-ID or CSeq is answered 400 with what it had, whenever its Via says where; an RFC 2543
// request without Max-Forwards parses; Accept ranges are read for application/sdp.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createErrorResponse, parseMessage, serialize } from '../../src/sip/codec/message.js';
import { acceptsMediaType } from '../../src/sip/codec/headers.js';
import { HeaderList } from '../../src/sip/codec/header-list.js';

const lines = [
  'INVITE sip:user@example.com SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKstrict1',
  'Max-Forwards: 70',
  'From: <sip:caller@example.net>;tag=3413as',
  'To: <sip:user@example.com>',
  'Call-ID: strict.1@192.0.2.1',
  'CSeq: 1 INVITE',
  'Content-Length: 0',
];
const without = (...names: string[]) => `${lines.filter((l) => !names.some((n) => l.startsWith(`${n}:`))).join('\r\n')}\r\n\r\n`;

describe('RFC 4475 strictness', () => {
  for (const missing of [['To'], ['From'], ['Call-ID'], ['CSeq'], ['Call-ID', 'From', 'To']]) {
    it(`answers a request missing ${missing.join(', ')} with 400, echoing what it had`, () => {
      const r = parseMessage(without(...missing));
      assert.equal(r.ok, false);
      assert.ok(!r.ok);
      assert.equal(r.status, 400);
      const res = createErrorResponse(r);
      assert.ok(res, 'a response can be formed from the Via');
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('Via'), 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKstrict1');
      for (const name of ['To', 'From', 'Call-ID', 'CSeq']) {
        assert.equal(res.headers.get(name) !== undefined, !missing.includes(name), `${name} echoed only when present`);
      }
      assert.match(serialize(res).toString(), /^SIP\/2\.0 400 /);
    });
  }

  it('sends nothing when there is no Via to answer to', () => {
    const r = parseMessage(without('Via', 'To'));
    assert.ok(!r.ok);
    assert.equal(createErrorResponse(r), undefined);
  });

  it('processes an RFC 2543 request without Max-Forwards', () => {
    const r = parseMessage(without('Max-Forwards').replace('branch=z9hG4bKstrict1', 'branch=1'));
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.equal(r.message.headers.get('Max-Forwards'), undefined);
  });

  it('reads Accept ranges for application/sdp', () => {
    const accepts = (v: string | undefined) => {
      const h = new HeaderList();
      if (v !== undefined) h.append('Accept', v);
      return acceptsMediaType(h, 'application/sdp');
    };
    assert.equal(accepts(undefined), true);
    assert.equal(accepts('application/sdp'), true);
    assert.equal(accepts('text/nonsense, Application/SDP;level=1'), true);
    assert.equal(accepts('application/*'), true);
    assert.equal(accepts('*/*'), true);
    assert.equal(accepts('text/nonsense'), false);
    assert.equal(accepts('application/sdp;q=0, text/plain'), false);
    assert.equal(accepts('application/sdpx'), false);
  });
});
