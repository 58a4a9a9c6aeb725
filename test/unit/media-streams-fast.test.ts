// The `media` fast paths (src/streams/fast-media.ts) against the full path they stand in for:
// built messages are byte-equal to JSON.stringify of protocol.ts's objects, and a recognised
// incoming message equals JSON.parse + the schema (+ the streamSid check), over canonical
// messages and hostile variants of them. A planted bug (a matcher that skips the payload check)
// must be caught by the same corpus, so the corpus is shown to have teeth.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BotMediaTemplate, PlatformMediaMatcher, base64Into, decodeBase64, mediaFrameOf, type MediaFrame } from '../../src/streams/fast-media.js';
import { PlatformEncoder, parseBotMessage, parsePlatformMessage, makeSid } from '../../src/streams/protocol.js';
import { Rng } from '../helpers/prng.js';

const seed = Number(process.env.FUZZ_SEED ?? 17);
const bytes = (rng: Rng, n: number) => Buffer.from(Array.from({ length: n }, () => rng.int(256)));

test('base64Into writes what Buffer#toString("base64") writes, every length 0-300', () => {
  const rng = new Rng(seed);
  for (let n = 0; n <= 300; n++) {
    const src = bytes(rng, n);
    const out = Buffer.alloc(Math.ceil(n / 3) * 4 + 2, 0x21);
    const end = base64Into(src, out, 1);
    assert.equal(out.toString('latin1', 1, end), src.toString('base64'), `length ${n}`);
    assert.equal(out[end], 0x21, 'nothing written past the end');
  }
});

test('decodeBase64 reads what Buffer.from(text, "base64") reads, padded or not, odd lengths too', () => {
  const rng = new Rng(seed + 5);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let k = 0; k < 3000; k++) {
    let text = '';
    for (let n = rng.int(40); n > 0; n--) text += alphabet[rng.int(64)];
    text += '='.repeat(rng.int(3));
    const wire = Buffer.from(`xx${text}yy`, 'latin1');
    assert.deepEqual(decodeBase64(wire, 2, wire.length - 2), Buffer.from(text, 'base64'), JSON.stringify(text));
  }
});

/** A sink that leaves ROOM bytes in front of the message and exactly fits it. */
const ROOM = 7;
const SINK_WITH_ROOM = { buffer: (n: number) => Buffer.alloc(ROOM + n, 0xee), offset: () => ROOM };

test('mediaBytes and the bot template are byte-equal to JSON.stringify of the message objects', () => {
  const rng = new Rng(seed + 1);
  for (const sid of [makeSid('MZ'), 'MZ1', 'a"b\\c', 'ünï']) {
    const byJson = new PlatformEncoder(sid);
    const byTemplate = new PlatformEncoder(sid);
    for (let i = 0; i < 200; i++) {
      const track = rng.pick(['inbound', 'outbound'] as const);
      const payload = bytes(rng, rng.pick([0, 1, 2, 159, 160, 161, rng.int(1000)]));
      const ts = rng.pick([0, 20.4, 19.5, -3, rng.next() * 1e9, 2 ** 40]);
      // Into a sink with room in front (a frame's header and mask): the same bytes at its offset.
      const want = byJson.media(track, payload, ts);
      const got = i % 2 ? byTemplate.mediaBytes(track, payload, ts) : byTemplate.mediaBytes(track, payload, ts, SINK_WITH_ROOM);
      assert.equal(got.subarray(i % 2 ? 0 : ROOM).toString('utf8'), want);
    }
    assert.equal(byTemplate.sequenceNumber, byJson.sequenceNumber);
    const bot = new BotMediaTemplate(sid);
    for (let i = 0; i < 50; i++) {
      const payload = bytes(rng, rng.int(400));
      const want = JSON.stringify({ event: 'media', streamSid: sid, media: { payload: payload.toString('base64') } });
      assert.equal(bot.build(payload).toString('utf8'), want);
      assert.equal(bot.build(payload, SINK_WITH_ROOM).subarray(ROOM).toString('utf8'), want);
    }
  }
});

// ---- incoming: corpus of canonical messages and hostile variants ----------------------------

const B64_TRICKS = ['', 'QQ==', 'QUI=', 'QUJD', 'QQ', 'Q', 'QQ===', 'Q=Q=', '=', '==', 'QR==', 'QUJD\\u0041', 'QU JD', 'QUJD\n', '-_8=', 'QUJ\u00e9'];
const INSERTS = ['"', '\\', ' ', '=', '0', '}', '{', ',', ':', '\u00e9', '\u0000', '\\"', '\\u0022', 'A', '+', '/'];

function mutate(rng: Rng, text: string): string {
  const at = rng.int(text.length + 1);
  switch (rng.int(9)) {
    case 0:
      return text.slice(0, at) + rng.pick(INSERTS) + text.slice(at);
    case 1:
      return text.slice(0, at) + text.slice(at + 1 + rng.int(3));
    case 2:
      return text.slice(0, at);
    case 3:
      return text.slice(0, at) + rng.pick(INSERTS) + text.slice(at + 1);
    case 4:
      return text.replace(/"payload":"[^"]*"/, `"payload":"${rng.pick(B64_TRICKS)}"`);
    case 5:
      return text.replace(/"(sequenceNumber|chunk|timestamp)":"[^"]*"/, (_m, k: string) => `"${k}":"${rng.pick(['0', '00', '01', '1', '9'.repeat(16), '1'.repeat(17), '', '-1', '1.0', '1e3', ' 1'])}"`);
    case 6:
      return text.replace(/\}\}$/, rng.pick(['},"x":1}', '}}\n', ' }}', '},"event":"mark"}', '}}}']));
    case 7:
      return text.replace(/"streamSid":"[^"]*"/, `"streamSid":${JSON.stringify(rng.pick(['MZ', 'MZ1x', 'mz1', '', 'MZ1 ', 'x'.repeat(129)]))}`);
    default:
      return text.replace(/"(event|media|track|payload|streamSid)"/, (_m, k: string) => rng.pick([`"${k.toUpperCase()}"`, `"${k}" `, `"\\u00${k.charCodeAt(0).toString(16)}${k.slice(1)}"`]));
  }
}

function corpus(rng: Rng, canonical: string[], n: number): string[] {
  const out = [...canonical];
  for (let i = 0; i < n; i++) {
    let t = rng.pick(canonical);
    for (let k = rng.range(1, 3); k > 0; k--) t = mutate(rng, t);
    out.push(t);
  }
  return out;
}

/** The full path of stream.ts for a bot's message: the payload bytes it would queue, or null. */
function botFull(text: string, sid: string): Buffer | null {
  const r = parseBotMessage(text);
  if (!r.ok || r.message.event !== 'media' || r.message.streamSid !== sid) return null;
  return Buffer.from(r.message.media.payload, 'base64');
}

/** The first input where `fast` recognised a message the full path would not treat the same. */
function botDisagreement(inputs: string[], sid: string, fast: (b: Buffer) => Buffer | null): string | undefined {
  for (const text of inputs) {
    const got = fast(Buffer.from(text, 'utf8'));
    if (got === null) continue;
    const want = botFull(text, sid);
    if (want === null || !want.equals(got)) return text;
  }
  return undefined;
}

function botCanonical(rng: Rng, sid: string): string[] {
  const bot = new BotMediaTemplate(sid);
  return Array.from({ length: 40 }, () => bot.build(bytes(rng, rng.pick([0, 1, 2, 3, 160, rng.int(2000)]))).toString('utf8'));
}

test("a bot's media message: the fast path takes every canonical one and agrees with the full path on hostile ones", () => {
  const rng = new Rng(seed + 2);
  for (const sid of ['MZ1', makeSid('MZ'), 'a"b']) {
    const m = new BotMediaTemplate(sid);
    const canonical = botCanonical(rng, sid);
    for (const text of canonical) assert.ok(m.match(Buffer.from(text)), `canonical message taken: ${text.slice(0, 80)}`);
    const inputs = corpus(rng, canonical, 4000);
    assert.equal(botDisagreement(inputs, sid, (b) => m.match(b)), undefined);
    // Some hostile variants are still valid (the full path takes them): they fall back, not fail.
    assert.ok(inputs.some((t) => m.match(Buffer.from(t)) === null && botFull(t, sid) !== null), 'the corpus holds valid non-canonical messages');
  }
  // Not matchable: a sid the schema refuses is never recognised.
  const long = 'x'.repeat(129);
  assert.equal(new BotMediaTemplate(long).match(new BotMediaTemplate(long).build(Buffer.alloc(3))), null);
});

test('planted bug: a matcher that skips the payload check is caught by the same corpus', () => {
  const rng = new Rng(seed + 3);
  const sid = 'MZ1';
  const head = Buffer.from(`{"event":"media","streamSid":"${sid}","media":{"payload":"`);
  const sloppy = (b: Buffer): Buffer | null =>
    b.length >= head.length + 3 && head.compare(b, 0, head.length) === 0 && b.toString('latin1', b.length - 3) === '"}}' ? Buffer.from(b.toString('latin1', head.length, b.length - 3), 'base64') : null;
  assert.notEqual(botDisagreement(corpus(rng, botCanonical(rng, sid), 4000), sid, sloppy), undefined);
});

/** The full path of route.ts for a platform's message: the media frame it dispatches, or null. */
function platformFull(text: string, sid: string): MediaFrame | null {
  const r = parsePlatformMessage(text);
  if (!r.ok || r.message.event !== 'media' || r.message.streamSid !== sid) return null;
  return mediaFrameOf(r.message);
}

test("a platform's media message: the fast path takes every canonical one and equals parsePlatformMessage on hostile ones", () => {
  const rng = new Rng(seed + 4);
  for (const sid of ['MZ1', makeSid('MZ'), 'a"b']) {
    const m = new PlatformMediaMatcher(sid);
    const enc = new PlatformEncoder(sid);
    const canonical: string[] = [];
    for (let i = 0; i < 40; i++) canonical.push(enc.mediaBytes(rng.pick(['inbound', 'outbound'] as const), bytes(rng, rng.pick([0, 1, 160, rng.int(2000)])), rng.next() * 1e7).toString('utf8'));
    // Twilio's own field order, with numbers near the schema's limits.
    canonical.push(`{"event":"media","sequenceNumber":"${'9'.repeat(16)}","streamSid":${JSON.stringify(sid)},"media":{"track":"inbound","chunk":"1","timestamp":"0000","payload":"//8="}}`);
    canonical.push(`{"event":"media","sequenceNumber":"7","streamSid":${JSON.stringify(sid)},"media":{"track":"outbound","chunk":"${'9'.repeat(16)}","timestamp":"${'9'.repeat(16)}","payload":"QQ"}}`);
    for (const text of canonical) {
      const got = m.match(Buffer.from(text));
      assert.ok(got, `canonical message taken: ${text.slice(0, 80)}`);
      assert.deepEqual(got, platformFull(text, sid));
    }
    let fellBack = 0;
    for (const text of corpus(rng, canonical, 4000)) {
      const got = m.match(Buffer.from(text, 'utf8'));
      if (got === null) {
        if (platformFull(text, sid)) fellBack++;
        continue;
      }
      assert.deepEqual(got, platformFull(text, sid), text);
    }
    assert.ok(fellBack > 0, 'the corpus holds valid non-canonical messages');
  }
});
