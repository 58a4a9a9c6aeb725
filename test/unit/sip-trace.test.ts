import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { combineTraceHooks, sipCallId, sipTraceLogger, traceLine } from '../../src/logging/sip-trace.js';
import { createCliLogger, defaultLogFormat } from '../../src/logging/format.js';
import type { SipTraceRecord } from '../../src/sip/transport/udp.js';

const INVITE = 'INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062\r\ni: short-form@h\r\nCSeq: 1 INVITE\r\n\r\nv=0\r\nCall-ID: not-a-header\r\n';

function rec(text: string, direction: 'in' | 'out' = 'in'): SipTraceRecord {
  return { direction, local: { address: '127.0.0.1', port: 5060 }, remote: { address: '192.0.2.1', port: 5062 }, bytes: Buffer.from(text), time: 0 };
}

function sink(): { stream: Writable; text: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  });
  return { stream, text: () => out };
}

test('sipCallId reads Call-ID (or compact i:) from the headers only', () => {
  assert.equal(sipCallId(Buffer.from(INVITE)), 'short-form@h');
  assert.equal(sipCallId(Buffer.from('SIP/2.0 200 OK\r\ncall-id:   spaced@h  \r\n\r\n')), 'spaced@h');
  assert.equal(sipCallId(Buffer.from('OPTIONS sip:x SIP/2.0\r\nTo: <sip:x>\r\n\r\nCall-ID: body\r\n')), undefined);
});

test('a trace line carries direction, addresses, Call-ID and the whole message', () => {
  assert.deepEqual(traceLine(rec(INVITE, 'out')), {
    dir: 'out',
    remote: '192.0.2.1:5062',
    local: '127.0.0.1:5060',
    callId: 'short-form@h',
    bytes: Buffer.byteLength(INVITE),
    sip: INVITE,
  });
  const s = sink();
  sipTraceLogger(pino({ level: 'info' }, s.stream))(rec(INVITE));
  const line = JSON.parse(s.text()) as Record<string, unknown>;
  assert.equal(line.component, 'sip-trace');
  assert.equal(line.level, 30);
  assert.equal(line.callId, 'short-form@h');
  assert.equal(line.sip, INVITE);
  assert.equal(line.msg, 'recv <- 192.0.2.1:5062 INVITE sip:bob@127.0.0.1 SIP/2.0');
});

test('combineTraceHooks calls each hook; none or one is passed through', () => {
  const seen: string[] = [];
  assert.equal(combineTraceHooks(undefined, undefined), undefined);
  const one = (r: SipTraceRecord) => void seen.push(`a:${r.direction}`);
  assert.equal(combineTraceHooks(undefined, one), one);
  combineTraceHooks(one, (r) => void seen.push(`b:${r.direction}`))!(rec(INVITE));
  assert.deepEqual(seen, ['a:in', 'b:in']);
});

test('--log-format: pretty prints one readable line per event and the SIP text as on the wire; json stays JSON', async () => {
  assert.equal(defaultLogFormat(true), 'pretty');
  assert.equal(defaultLogFormat(false), 'json');
  const p = sink();
  const pretty = createCliLogger({ level: 'info', format: 'pretty', destination: p.stream, colorize: false });
  pretty.info({ end: 'hangup' }, 'call ended');
  sipTraceLogger(pretty)(rec(INVITE));
  await new Promise((r) => setImmediate(r));
  const text = p.text();
  assert.match(text, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: call ended\n {4}end: "hangup"\n/);
  assert.match(text, /INFO: recv <- 192\.0\.2\.1:5062 INVITE sip:bob@127\.0\.0\.1 SIP\/2\.0/);
  assert.match(text, /\n {4}sip:\n( +)INVITE sip:bob@127\.0\.0\.1 SIP\/2\.0\n\1Via: SIP\/2\.0\/UDP 127\.0\.0\.1:5062\n/, 'SIP text unescaped and indented');
  assert.doesNotMatch(text, /\\r\\n/);
  const j = sink();
  const json = createCliLogger({ level: 'info', format: 'json', destination: j.stream });
  json.info({ a: 1 }, 'hello');
  await new Promise((r) => setImmediate(r));
  const line = JSON.parse(j.text()) as Record<string, unknown>;
  assert.equal(line.msg, 'hello');
  assert.equal(line.name, 'callchart');
});
