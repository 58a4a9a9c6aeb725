// Verb builder, validation gate, generated types, and the protocol codec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { generateVerbTypes, GENERATED_FILE, VERBS } from '../../scripts/gen-jambonz-verbs.js';
import { verbs, validateVerbs, JambonzVerbError, JambonzVerbs, JAMBONZ_VERB_NAMES, type JambonzVerb } from '../../src/jambonz/verbs.js';
import { parseJambonzMessage, JAMBONZ_COMMAND_SCHEMAS } from '../../src/jambonz/protocol.js';
import verbSpecifications from '@jambonz/verb-specifications';

test('src/jambonz/verb-types.generated.ts matches the installed @jambonz/verb-specifications', () => {
  assert.equal(readFileSync(GENERATED_FILE, 'utf8'), generateVerbTypes(), 'stale: run npx tsx scripts/gen-jambonz-verbs.ts');
  for (const v of VERBS) assert.ok(v in verbSpecifications.specs, `${v} in specs`);
  assert.ok(JAMBONZ_VERB_NAMES.includes('sip:decline') && JAMBONZ_VERB_NAMES.includes('stream'));
});

test('the builder chains, is an array, and its output validates', () => {
  const v = verbs().say({ text: 'hi' }).gather({ actionHook: '/g', input: ['digits'], numDigits: 1 }).sipDecline({ status: 486 }).hangup();
  assert.ok(v instanceof JambonzVerbs && Array.isArray(v));
  assert.equal(JSON.stringify(v), JSON.stringify([
    { verb: 'say', text: 'hi' },
    { verb: 'gather', actionHook: '/g', input: ['digits'], numDigits: 1 },
    { verb: 'sip:decline', status: 486 },
    { verb: 'hangup' },
  ]));
  assert.equal(v.map((x) => x.verb).constructor, Array, 'map returns a plain array');
  assert.deepEqual(validateVerbs(v), [...v]);
});

test('validateVerbs returns { verb } form and refuses with the schema reason', () => {
  assert.deepEqual(validateVerbs([{ say: { text: 'x' } }]), [{ verb: 'say', text: 'x' }]);
  const cases: Array<[unknown, string, number]> = [
    [[{ verb: 'say', text: 5 }], 'say: property text has invalid data type, must be one of string,array', 0],
    [[{ verb: 'hangup' }, { verb: 'pause' }], 'pause: missing value for length', 1],
    [[{ verb: 'say', colour: 'red' }], 'say: unknown property colour', 0],
    [[{ verb: 'dial', target: [{ type: 'carrier' }] }], 'invalid value carrier must be one of phone,sip,user,teams', 0],
    // specs.json holds nested types too; the package would take them as verbs, jambonz would not.
    [[{ verb: 'synthesizer', vendor: 'google' }], 'invalid instruction: synthesizer', 0],
    [[{ nope: 1, other: 2 }], 'missing verb property', 0],
    [{ verb: 'say' }, 'verbs must be an array', -1],
  ];
  for (const [input, reason, index] of cases) {
    assert.throws(() => validateVerbs(input), (e: unknown) => e instanceof JambonzVerbError && e.reason === reason && e.index === index, reason);
  }
  // @ts-expect-error the generated types reject what the validator rejects
  const bad: JambonzVerb = { verb: 'pause' };
  void bad;
});

test('parseJambonzMessage: every inbound type, and reasons for what is wrong', () => {
  const base = { msgid: 'm1', call_sid: 'c1' };
  const ok = (o: object) => parseJambonzMessage(JSON.stringify({ ...base, ...o }));
  assert.equal(ok({ type: 'session:new', data: { from: 'a', to: 'b', direction: 'inbound', extra: 1 } }).ok, true);
  assert.equal(ok({ type: 'verb:hook', hook: '/h', data: { reason: 'dtmfDetected', digits: '1' } }).ok, true);
  assert.equal(ok({ type: 'call:status', data: { call_status: 'ringing' } }).ok, true);
  assert.equal(ok({ type: 'session:reconnect', data: {} }).ok, true);
  assert.equal(ok({ type: 'verb:status', data: { id: 'x', verb: 'say', status: 'begin' } }).ok, true);
  assert.equal(ok({ type: 'llm:tool-call', hook: '/t', data: { name: 'f' } }).ok, true);
  assert.deepEqual(parseJambonzMessage('{'), { ok: false, reason: 'message is not valid JSON' });
  assert.deepEqual(parseJambonzMessage('[1]'), { ok: false, reason: 'message must be a JSON object' });
  assert.deepEqual(ok({ type: 'x:y' }), { ok: false, reason: 'unknown type: x:y', type: 'x:y', msgid: 'm1', call_sid: 'c1' });
  const r = ok({ type: 'call:status', data: { call_status: 'exploded' } });
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, 'call:status: invalid or missing data.call_status (at data.call_status)');
  const noSid = parseJambonzMessage(JSON.stringify({ type: 'session:new', msgid: 'm', data: {} }));
  assert.equal(!noSid.ok && noSid.reason, 'session:new: missing field call_sid (at call_sid)');
});

test('command data schemas follow what the feature-server reads', () => {
  assert.equal(JAMBONZ_COMMAND_SCHEMAS['call:status'].safeParse({ call_status: 'completed' }).success, true);
  assert.equal(JAMBONZ_COMMAND_SCHEMAS['call:status'].safeParse('completed').success, false);
  assert.equal(JAMBONZ_COMMAND_SCHEMAS['sip:request'].safeParse({ sip_request: { method: 'INFO', content_type: 'text/plain', content: 'x' } }).success, true);
  assert.equal(JAMBONZ_COMMAND_SCHEMAS.dtmf.safeParse({ dtmf: { digit: '5', duration: 250 } }).success, true);
  assert.equal(JAMBONZ_COMMAND_SCHEMAS['mute:status'].safeParse({ mute_status: 'muted' }).success, false);
});
