// The Twilio Media Streams codec and the playout queue: messages as Twilio documents them, what a
// bot may send, and how the bot's audio is re-framed, marked and cleared.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { PlatformEncoder, parseBotMessage, parsePlatformMessage, makeSid, tracksOf } from '../../src/streams/protocol.js';
import { PlayoutQueue, ULAW_SILENCE } from '../../src/streams/playout.js';

test('platform messages: connected, start, media, dtmf, mark, stop with string sequence numbers', () => {
  const e = new PlatformEncoder('MZ1');
  const connected = JSON.parse(e.connected());
  assert.deepEqual(connected, { event: 'connected', protocol: 'Call', version: '1.0.0' });
  const start = JSON.parse(e.start({ accountSid: 'AC1', callSid: 'CA1', tracks: ['inbound'], customParameters: { lang: 'fr' } }));
  assert.deepEqual(start, {
    event: 'start',
    sequenceNumber: '1',
    streamSid: 'MZ1',
    start: {
      streamSid: 'MZ1',
      accountSid: 'AC1',
      callSid: 'CA1',
      tracks: ['inbound'],
      customParameters: { lang: 'fr' },
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
    },
  });
  const media = JSON.parse(e.media('inbound', new Uint8Array(160).fill(0xff), 20.4));
  assert.deepEqual(media, { event: 'media', sequenceNumber: '2', streamSid: 'MZ1', media: { track: 'inbound', chunk: '1', timestamp: '20', payload: Buffer.alloc(160, 0xff).toString('base64') } });
  assert.equal(JSON.parse(e.media('inbound', new Uint8Array(160), 40)).media.chunk, '2');
  assert.deepEqual(JSON.parse(e.dtmf('5')), { event: 'dtmf', sequenceNumber: '4', streamSid: 'MZ1', dtmf: { track: 'inbound_track', digit: '5' } });
  assert.deepEqual(JSON.parse(e.mark('m')), { event: 'mark', sequenceNumber: '5', streamSid: 'MZ1', mark: { name: 'm' } });
  assert.deepEqual(JSON.parse(e.stop('AC1', 'CA1')), { event: 'stop', sequenceNumber: '6', streamSid: 'MZ1', stop: { accountSid: 'AC1', callSid: 'CA1' } });
  // What the encoder writes, the platform parser reads back.
  for (const text of [e.connected(), e.mark('x'), e.stop('AC1', 'CA1')]) assert.ok(parsePlatformMessage(text).ok, text);
});

test('bot messages: media, mark and clear are accepted; garbage is refused with a reason', () => {
  assert.deepEqual(parseBotMessage('{"event":"media","streamSid":"MZ1","media":{"payload":"//8="}}'), {
    ok: true,
    message: { event: 'media', streamSid: 'MZ1', media: { payload: '//8=' } },
  });
  assert.ok(parseBotMessage('{"event":"mark","streamSid":"MZ1","mark":{"name":"end"}}').ok);
  assert.ok(parseBotMessage('{"event":"clear","streamSid":"MZ1"}').ok);
  const bad: Array<[string, RegExp]> = [
    ['not json', /not valid JSON/],
    ['[1]', /JSON object/],
    ['{"event":"dance","streamSid":"MZ1"}', /event must be/],
    ['{"event":"media","streamSid":"MZ1","media":{"payload":"%%%"}}', /base64/],
    ['{"event":"media","streamSid":"MZ1"}', /media/],
    ['{"event":"mark","streamSid":"MZ1","mark":{"name":""}}', /empty/],
    ['{"event":"clear"}', /streamSid/],
  ];
  for (const [text, re] of bad) {
    const r = parseBotMessage(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.match(r.reason, re, text);
  }
});

test('sids look like Twilio sids; the callSid of a call is stable', () => {
  assert.match(makeSid('MZ'), /^MZ[0-9a-f]{32}$/);
  assert.equal(makeSid('CA', '0b6e1a2c-1111-4222-8333-944445555666'), 'CA0b6e1a2c111142228333944445555666');
  assert.equal(makeSid('CA', 'abc@host'), makeSid('CA', 'abc@host'));
  assert.deepEqual(tracksOf('both_tracks'), ['inbound', 'outbound']);
});

test('playout: bot chunks of any size are re-framed to 20 ms; marks come after their audio', () => {
  const q = new PlayoutQueue(8000);
  assert.equal(q.mark('early'), 'due', 'a mark with nothing queued is due at once');
  q.push(new Uint8Array(250).fill(1));
  assert.equal(q.mark('m1'), 'queued');
  q.push(new Uint8Array(100).fill(2));
  let r = q.frame();
  assert.equal(r.frame!.length, 160);
  assert.deepEqual(r.marks, []);
  // 90 bytes left before the mark: played padded (the mark says the utterance is over), then the mark.
  r = q.frame();
  assert.deepEqual([...r.frame!.subarray(0, 90)], new Array(90).fill(1));
  assert.equal(r.frame![90], ULAW_SILENCE);
  assert.deepEqual(r.marks, ['m1']);
  // 100 bytes with no mark behind: one tick of grace for the rest, then padded.
  assert.equal(q.frame().frame, null);
  q.push(new Uint8Array(60).fill(3));
  r = q.frame();
  assert.deepEqual([...r.frame!.subarray(95, 105)], [2, 2, 2, 2, 2, 3, 3, 3, 3, 3]);
  assert.equal(q.queuedBytes, 0);
  assert.equal(q.frame().frame, null);
});

/** One 20 ms frame of μ-law. */
const frame = (): Uint8Array => new Uint8Array(160).fill(7);
/** One pacer tick as the stream runs it (its frame, then catch-up frames): the frames it plays. */
function tick(q: PlayoutQueue): number {
  let n = 0;
  for (let more = true; more; ) {
    const r = q.frame();
    if (r.frame) n++;
    more = r.frame !== null && q.catchUp();
  }
  return n;
}

test('playout: clear drops the audio at once and returns the marks it cut; the queue is bounded', () => {
  const q = new PlayoutQueue(1600, 2);
  assert.ok(q.push(new Uint8Array(800)));
  q.mark('a');
  assert.ok(q.push(new Uint8Array(800)));
  q.mark('b');
  assert.equal(q.mark('c'), 'refused', 'marks are bounded too');
  assert.equal(q.push(new Uint8Array(1)), false, 'full: refused');
  assert.equal(q.stats.droppedBytes, 1);
  q.frame();
  assert.deepEqual(q.clear(), ['a', 'b']);
  assert.equal(q.queuedBytes, 0);
  assert.equal(q.stats.clearedBytes, 1440);
  assert.equal(q.frame().frame, null, 'nothing plays after clear');
});

test('playout: ticks that found the queue dry mid-stream are made up, a pause drops the credit', () => {
  const q = new PlayoutQueue(16000);
  assert.equal(tick(q), 0);
  assert.equal(tick(q), 0, 'no credit before the bot has played anything');
  // A real-time bot: one frame per tick.
  for (let i = 0; i < 5; i++) {
    q.push(frame());
    assert.equal(tick(q), 1);
  }
  // A stall: three owed ticks run before the delayed frames are back.
  for (let i = 0; i < 3; i++) assert.equal(tick(q), 0);
  for (let i = 0; i < 4; i++) q.push(frame());
  assert.equal(tick(q), 4, 'the three dry ticks are made up at once: no standing backlog');
  assert.equal(q.queuedBytes, 0);
  assert.equal(q.stats.caughtUp, 3);
  // Credit is capped at 5 ticks.
  q.push(frame());
  tick(q);
  for (let i = 0; i < 8; i++) tick(q);
  for (let i = 0; i < 10; i++) q.push(frame());
  assert.equal(tick(q), 6, '1 + at most 5 made up');
  while (q.queuedBytes > 0) tick(q);
  // A pause of 10 dry ticks: the bot stopped talking; the next utterance (sent at once) plays one frame per tick.
  for (let i = 0; i < 10; i++) tick(q);
  for (let i = 0; i < 20; i++) q.push(frame());
  for (let i = 0; i < 20; i++) assert.equal(tick(q), 1);
  // clear() drops the credit too.
  for (let i = 0; i < 3; i++) tick(q);
  q.push(frame());
  q.clear();
  q.push(frame());
  q.push(frame());
  assert.equal(tick(q), 1);
});

test('playout: a standing backlog of real-time audio is drained, a sentence sent ahead is not', () => {
  // A real-time bot whose first answers came in a burst: three frames wait at every tick.
  const q = new PlayoutQueue(16000);
  for (let i = 0; i < 3; i++) q.push(frame());
  const depths: number[] = [];
  for (let i = 0; i < 200; i++) {
    q.push(frame());
    tick(q);
    depths.push(q.queuedBytes / 160);
  }
  assert.deepEqual(depths.slice(0, 24), new Array(24).fill(3), 'no credit before a window has passed');
  assert.equal(depths[24], 2, 'one frame made up after 25 ticks of backlog');
  assert.equal(depths[49], 1);
  assert.equal(depths[199], 0, 'drained to less than a frame, and kept there');
  assert.equal(q.stats.caughtUp, 3);
  assert.equal(q.stats.played, 203, 'nothing dropped: the backlog was played, not cut');

  // A sentence sent at once (deep queue) plays one frame per tick to its end.
  const tts = new PlayoutQueue(160 * 400);
  for (let i = 0; i < 300; i++) tts.push(frame());
  for (let i = 0; i < 300; i++) assert.equal(tick(tts), 1);
  assert.equal(tts.stats.caughtUp, 0);

  // Jitter: a frame comes a tick early now and then and the one after it a tick late, so a frame
  // is left over for a few ticks and then none. The window restarts; nothing is made up.
  const j = new PlayoutQueue(16000);
  for (let i = 0; i < 200; i++) {
    if (i % 10 !== 5) j.push(frame());
    if (i % 10 === 0) j.push(frame());
    assert.equal(tick(j), 1);
  }
  assert.equal(j.stats.caughtUp, 0, 'a backlog that does not stand for 25 ticks is left alone');
});

test('playout: pacer ticks that never ran are owed mid-utterance, not during a pause', () => {
  const q = new PlayoutQueue(16000);
  q.push(frame());
  assert.equal(tick(q), 1);
  // A stall: the pacer skipped 7 ticks; the bot's frames of that time came in meanwhile.
  for (let i = 0; i < 8; i++) q.push(frame());
  q.missed(7);
  assert.equal(tick(q), 6, 'its own frame and 5 made up (the most owed at once)');
  assert.equal(q.queuedBytes, 2 * 160);
  // During a pause (10 dry ticks) missed ticks owe nothing: the next utterance starts afresh.
  while (q.queuedBytes) tick(q);
  for (let i = 0; i < 10; i++) tick(q);
  q.missed(3);
  for (let i = 0; i < 4; i++) q.push(frame());
  assert.equal(tick(q), 1);
});

test('playout: a played chunk is let go at once, though the queue never runs dry', async () => {
  // A real-time bot keeps one chunk queued ahead of the tick: the queue must not hold on to the
  // chunks it has played (they were kept for 64 chunks and promoted to the old generation).
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const q = new PlayoutQueue(8000);
  const played: Array<WeakRef<Uint8Array>> = [];
  q.push(new Uint8Array(160));
  let last: WeakRef<Uint8Array> | undefined;
  for (let i = 0; i < 20; i++) {
    const chunk = new Uint8Array(160);
    if (last) played.push(last);
    last = new WeakRef(chunk);
    q.push(chunk);
    assert.ok(q.frame().frame);
  }
  assert.equal(q.queuedBytes, 160);
  // WeakRefs keep their targets until the current job ends.
  await new Promise((r) => setImmediate(r));
  gc();
  assert.equal(played.filter((r) => r.deref() !== undefined).length, 0, 'played chunks still referenced');
  assert.ok(last!.deref(), 'the chunk still queued is kept');
});
