// jambonz audio routes over real sockets on loopback: a simulated feature-server audio fork
// (test/helpers/jambonz-audio-sim.ts) streams to `engine.jambonz.audio(...)`, and the tests read
// back the WAV files, the frames the application saw, and what the simulator received.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createEngine, type Engine } from '../../src/engine.js';
import type { JambonzAudioOptions, JambonzAudioStream, JambonzAudioSummary } from '../../src/jambonz/audio-types.js';
import { parseWav } from '../../src/media/codecs/wav.js';
import { JambonzAudioSim, simMetadata, simFrame } from '../helpers/jambonz-audio-sim.js';

const tmpRoot = mkdtempSync(path.join(tmpdir(), 'callchart-jambonz-audio-'));
after(() => rmSync(tmpRoot, { recursive: true, force: true }));
let dirSeq = 0;

interface Harness {
  engine: Engine;
  dir: string;
  url: string;
  streams: JambonzAudioStream[];
  /** The next stream the handler receives. */
  nextStream(): Promise<JambonzAudioStream>;
  /** A simulated feature-server connection that has sent its metadata, and the stream it made. */
  openStream(callSid: string, extra?: Parameters<typeof simMetadata>[1]): Promise<{ sim: JambonzAudioSim; s: JambonzAudioStream }>;
  /** Every frame the application saw, per callSid. */
  seen: Map<string, Buffer[]>;
  close(): Promise<void>;
}

async function harness(onStream: (s: JambonzAudioStream) => void = () => {}, opts: JambonzAudioOptions = {}): Promise<Harness> {
  const dir = path.join(tmpRoot, `run-${++dirSeq}`);
  const engine = createEngine({ host: '127.0.0.1', wsPort: 0, sipPort: false, jambonz: { recordingsDir: dir } });
  const streams: JambonzAudioStream[] = [];
  const seen = new Map<string, Buffer[]>();
  let waiters: Array<(s: JambonzAudioStream) => void> = [];
  engine.jambonz.audio(
    '/recording',
    (s) => {
      streams.push(s);
      const mine: Buffer[] = [];
      seen.set(s.callSid, mine);
      s.on('audio', (pcm) => mine.push(Buffer.from(pcm)));
      onStream(s);
      const w = waiters;
      waiters = [];
      for (const f of w) f(s);
    },
    opts,
  );
  await engine.listen();
  const url = `ws://127.0.0.1:${engine.wsPort}/recording`;
  const nextStream = () => new Promise<JambonzAudioStream>((r) => waiters.push(r));
  return {
    engine,
    dir,
    url,
    streams,
    seen,
    nextStream,
    async openStream(callSid, extra) {
      const sim = new JambonzAudioSim(url);
      await sim.open();
      const got = nextStream();
      sim.sendMetadata(simMetadata(callSid, extra));
      return { sim, s: await got };
    },
    close: () => engine.close(),
  };
}

/** Header fields straight from the bytes (parseWav would forgive a wrong data size). */
function wavHeaderOf(file: string): { riffSize: number; channels: number; sampleRate: number; byteRate: number; bits: number; dataBytes: number; fileBytes: number; data: Buffer } {
  const b = readFileSync(file);
  assert.equal(b.toString('ascii', 0, 4), 'RIFF');
  assert.equal(b.toString('ascii', 8, 12), 'WAVE');
  assert.equal(b.toString('ascii', 36, 40), 'data');
  return {
    riffSize: b.readUInt32LE(4),
    channels: b.readUInt16LE(22),
    sampleRate: b.readUInt32LE(24),
    byteRate: b.readUInt32LE(28),
    bits: b.readUInt16LE(34),
    dataBytes: b.readUInt32LE(40),
    fileBytes: b.length,
    data: b.subarray(44),
  };
}

function assertWav(file: string, want: { sampleRate: number; channels: number; pcm: Buffer }): void {
  const h = wavHeaderOf(file);
  assert.equal(h.sampleRate, want.sampleRate, 'sample rate');
  assert.equal(h.channels, want.channels, 'channels');
  assert.equal(h.bits, 16);
  assert.equal(h.byteRate, want.sampleRate * want.channels * 2);
  assert.equal(h.dataBytes, want.pcm.length, 'data chunk size = bytes sent');
  assert.equal(h.riffSize, 36 + want.pcm.length, 'RIFF size');
  assert.equal(h.fileBytes, 44 + want.pcm.length, 'file size');
  assert.ok(h.data.equals(want.pcm), 'the file holds exactly the samples sent');
  // And a standard reader agrees.
  const parsed = parseWav(readFileSync(file));
  assert.equal(parsed.samples.length, want.pcm.length / 2);
}

test('metadata, 20 ms L16 frames, clean close: the WAV holds exactly what was sent; the app saw every frame', async () => {
  const h = await harness();
  try {
    const { sim, s } = await h.openStream('call-abc', { metadata: 'x', customerId: 42 });
    assert.equal(sim.ws.protocol, 'audio.jambonz.org');
    assert.equal(s.callSid, 'call-abc');
    assert.equal(s.sampleRate, 16000);
    assert.equal(s.channels, 1);
    assert.equal(s.metadata.customerId, 42, 'custom metadata is kept');
    assert.equal(s.metadata.direction, 'inbound');
    const closed = new Promise<JambonzAudioSummary>((r) => s.once('close', r));
    const sent = await sim.stream(50);
    assert.equal(sent[0]!.length, 640);
    await sim.close();
    const summary = await closed;
    const file = path.join(h.dir, 'call-abc-1.wav');
    assert.equal(summary.path, file);
    assert.equal(summary.reason, 'socket-closed');
    assert.equal(summary.frames, 50);
    assert.equal(summary.bytes, 50 * 640);
    assert.equal(summary.durationMs, 1000);
    assert.equal(summary.oddFrames, 0);
    assert.equal(summary.closeCode, 1000);
    assertWav(file, { sampleRate: 16000, channels: 1, pcm: Buffer.concat(sent) });
    assert.ok(Buffer.concat(h.seen.get('call-abc')!).equals(Buffer.concat(sent)), 'the application saw every frame, in order');
    assert.equal(s.state, 'done');
    // A second stream of the same call gets its own file.
    const sim2 = new JambonzAudioSim(h.url);
    await sim2.open();
    const got2 = h.nextStream();
    sim2.sendMetadata(simMetadata('call-abc', { sampleRate: 8000, mixType: 'stereo' }));
    const s2 = await got2;
    const sent2 = await sim2.stream(5, { bytes: 640 }); // 20 ms of 8 kHz stereo
    await sim2.close();
    const sum2 = await s2.done;
    assert.equal(sum2.path, path.join(h.dir, 'call-abc-2.wav'));
    assertWav(sum2.path!, { sampleRate: 8000, channels: 2, pcm: Buffer.concat(sent2) });
  } finally {
    await h.close();
  }
});

test('an abrupt drop (no close frame) still leaves a valid, complete WAV', async () => {
  const h = await harness(() => {}, { flushBytes: 64_000 });
  try {
    const { sim, s } = await h.openStream('call-drop');
    const sent = await sim.stream(30, { intervalMs: 5 });
    // Let the frames leave the client's socket buffer before the connection is cut.
    await new Promise((r) => setTimeout(r, 100));
    await sim.terminate();
    const summary = await s.done;
    assert.equal(summary.reason, 'socket-closed');
    assert.equal(summary.closeCode, 1006);
    // 30 × 640 B is less than flushBytes: only the finalisation can have put it on disk.
    assertWav(path.join(h.dir, 'call-drop-1.wav'), { sampleRate: 16000, channels: 1, pcm: Buffer.concat(sent) });
  } finally {
    await h.close();
  }
});

test('protocol errors close that socket with 1008 and a reason; nothing is recorded', async () => {
  const h = await harness(() => {}, { metadataTimeoutMs: 300 });
  try {
    const cases: Array<{ name: string; first: (sim: JambonzAudioSim) => void; reason: RegExp }> = [
      { name: 'binary before metadata', first: (sim) => sim.sendFrame(simFrame(0)), reason: /^binary frame before metadata$/ },
      { name: 'not JSON', first: (sim) => sim.sendText('{"callSid": "x",'), reason: /^metadata is not valid JSON$/ },
      { name: 'not an object', first: (sim) => sim.sendText('[1,2]'), reason: /^metadata must be a JSON object$/ },
      { name: 'no callSid', first: (sim) => sim.sendMetadata({ sampleRate: 16000, mixType: 'mono' }), reason: /missing field callSid/ },
      { name: 'path traversal', first: (sim) => sim.sendMetadata(simMetadata('../../etc/passwd')), reason: /callSid: callSid must be/ },
      { name: 'bad rate', first: (sim) => sim.sendMetadata(simMetadata('c1', { sampleRate: 44100 })), reason: /sampleRate: sampleRate must be one of/ },
      { name: 'bad mix', first: (sim) => sim.sendMetadata(simMetadata('c1', { mixType: 'quad' as never })), reason: /mixType: mixType must be mono, stereo or mixed/ },
      { name: 'silence', first: () => {}, reason: /^no metadata within 300 ms$/ },
    ];
    for (const c of cases) {
      const sim = new JambonzAudioSim(h.url);
      await sim.open();
      c.first(sim);
      const closed = await sim.waitClose();
      assert.equal(closed.code, 1008, c.name);
      assert.match(closed.reason, c.reason, c.name);
    }
    assert.equal(h.streams.length, 0, 'no stream reached the application');
    assert.ok(!existsSync(h.dir) || readdirSync(h.dir).length === 0, 'no file was created');
    // A good stream on the same route is unaffected.
    const { sim: ok } = await h.openStream('after-errors');
    await ok.stream(3, { intervalMs: 0 });
    await ok.close();
    assert.equal((await h.streams[0]!.done).frames, 3);
  } finally {
    await h.close();
  }
});

test('a client without the audio.jambonz.org subprotocol is refused with HTTP 400', async () => {
  const h = await harness();
  try {
    for (const protocols of [[], ['ws.jambonz.org'], ['audio.drachtio.org']]) {
      const sim = new JambonzAudioSim(h.url, protocols);
      await assert.rejects(sim.open(), /HTTP 400/);
      assert.equal(sim.refused, 400);
    }
    assert.equal(h.streams.length, 0);
  } finally {
    await h.close();
  }
});

test('bidirectional audio: playAudio, sendAudio, mark, clearMarks, killAudio, disconnect reach jambonz as documented', async () => {
  const h = await harness(() => {}, { record: false });
  try {
    const { sim, s } = await h.openStream('call-bidi');
    assert.equal(s.path, undefined, 'record: false writes no file');
    const playDone = new Promise((r) => s.once('playDone', r));
    const markEv = new Promise((r) => s.once('mark', r));
    const dtmf = new Promise((r) => s.once('dtmf', r));

    // playAudio from PCM: raw, at the stream's rate, base64.
    const clip = simFrame(7, 3200);
    assert.equal(s.playAudio(clip, { id: 'p1', queuePlay: true }), true);
    const play = await sim.nextText((j) => j.type === 'playAudio');
    assert.deepEqual(Object.keys(play).sort(), ['data', 'type']);
    const data = play.data as Record<string, unknown>;
    assert.deepEqual({ ...data, audioContent: undefined }, { audioContentType: 'raw', sampleRate: 16000, id: 'p1', queuePlay: true, audioContent: undefined });
    assert.ok(Buffer.from(data.audioContent as string, 'base64').equals(clip));
    assert.equal(s.state, 'streaming.playing');
    sim.sendText(JSON.stringify({ type: 'playDone', data: { id: 'p1', playbackSeconds: 1 } }));
    assert.deepEqual(await playDone, { type: 'playDone', id: 'p1', data: { id: 'p1', playbackSeconds: 1 } });
    assert.equal(s.state, 'streaming.idle');

    // playAudio with a whole WAV file, the object form.
    const wav = Buffer.concat([Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1'), Buffer.alloc(32)]);
    s.playAudio({ audioContent: wav.toString('base64'), audioContentType: 'wav' });
    const play2 = await sim.nextText((j) => j.type === 'playAudio');
    assert.deepEqual(play2, { type: 'playAudio', data: { audioContent: wav.toString('base64'), audioContentType: 'wav' } });

    // Invalid commands are refused before they reach the wire.
    assert.throws(() => s.playAudio(Buffer.alloc(3)), /TypeError|whole 16-bit samples/);
    assert.throws(() => s.playAudio(clip, { sampleRate: 44100 as never }), /sampleRate must be one of/);
    assert.throws(() => s.playAudio({ audioContent: 'AAAA', audioContentType: 'wav' }), /RIFF\/WAVE/);
    assert.throws(() => s.playAudio({ audioContent: 'not base64!', audioContentType: 'raw', sampleRate: 8000 }), /not valid base64/);
    assert.throws(() => s.playAudio({ audioContent: 'AAAA', audioContentType: 'raw' }), /sampleRate is required/);
    assert.throws(() => s.mark('say "hi"'), /quotes/);
    assert.throws(() => s.mark(''), /empty/);
    assert.throws(() => s.sendAudio(Buffer.alloc(0)), /whole 16-bit samples/);

    // Streaming mode: binary L16 back, marks after it.
    const back = simFrame(3, 640);
    assert.equal(s.sendAudio(back), true);
    assert.ok((await sim.waitBinary(640)).equals(back));
    assert.equal(s.stats.sentBytes, 640);
    s.mark('m1');
    assert.deepEqual(await sim.nextText((j) => j.type === 'mark'), { type: 'mark', data: { name: 'm1' } });
    assert.deepEqual(s.pendingMarks, ['m1']);
    sim.sendText(JSON.stringify({ type: 'mark', data: { name: 'm1', event: 'playout' } }));
    assert.deepEqual(await markEv, { type: 'mark', name: 'm1', event: 'playout' });
    assert.deepEqual(s.pendingMarks, []);
    s.mark('m2');
    s.clearMarks();
    assert.deepEqual(await sim.nextText((j) => j.type === 'clearMarks'), { type: 'clearMarks' });
    assert.deepEqual(s.pendingMarks, []);
    s.killAudio();
    assert.deepEqual(await sim.nextText((j) => j.type === 'killAudio'), { type: 'killAudio' });

    // passDtmf digits arrive as events; unknown JSON is surfaced, junk is ignored.
    sim.sendText(JSON.stringify({ event: 'dtmf', dtmf: '5', duration: 800 }));
    assert.deepEqual(await dtmf, { type: 'dtmf', dtmf: '5', duration: 800 });
    const other = new Promise((r) => s.once('message', r));
    sim.sendText('not json');
    sim.sendText(JSON.stringify({ type: 'transcription', data: { text: 'hi' } }));
    assert.deepEqual(await other, { type: 'transcription', data: { text: 'hi' } });

    s.disconnect();
    assert.deepEqual(await sim.nextText((j) => j.type === 'disconnect'), { type: 'disconnect' });
    const closed = await sim.waitClose();
    assert.equal(closed.code, 1000);
    const summary = await s.done;
    assert.equal(summary.reason, 'app-disconnect');
    assert.equal(summary.path, null);
    assert.equal(s.playAudio(clip), false, 'commands after the end report false');
  } finally {
    await h.close();
  }
});

test('odd-length frames are dropped and counted; a throwing handler ends only its own stream (1011), file finalised', async () => {
  const h = await harness((s) => {
    if (s.callSid === 'bad-app') s.on('audio', () => {
      throw new Error('app bug');
    });
  });
  try {
    const good = new JambonzAudioSim(h.url);
    const bad = new JambonzAudioSim(h.url);
    await Promise.all([good.open(), bad.open()]);
    good.sendMetadata(simMetadata('good-app'));
    bad.sendMetadata(simMetadata('bad-app'));
    await new Promise((r) => setTimeout(r, 50));
    bad.sendFrame(simFrame(1));
    const badClosed = await bad.waitClose();
    assert.equal(badClosed.code, 1011);
    const sent = await good.stream(10, { intervalMs: 5 });
    good.sendFrame(Buffer.alloc(641)); // not whole samples
    const more = await good.stream(2, { intervalMs: 0, from: 10 });
    await good.close();
    const gs = h.streams.find((s) => s.callSid === 'good-app')!;
    const bs = h.streams.find((s) => s.callSid === 'bad-app')!;
    const sum = await gs.done;
    assert.equal(sum.frames, 12);
    assert.equal(sum.oddFrames, 1);
    assertWav(sum.path!, { sampleRate: 16000, channels: 1, pcm: Buffer.concat([...sent, ...more]) });
    const bsum = await bs.done;
    assert.equal(bsum.closeCode, 1011);
    assertWav(bsum.path!, { sampleRate: 16000, channels: 1, pcm: simFrame(1) });
  } finally {
    await h.close();
  }
});

test('100 concurrent streams: every file exact, every frame seen by the app', async () => {
  const h = await harness();
  try {
    const N = 100;
    const sims = Array.from({ length: N }, () => new JambonzAudioSim(h.url));
    await Promise.all(sims.map((s) => s.open()));
    sims.forEach((s, i) => s.sendMetadata(simMetadata(`conc-${i}`)));
    const deadline = Date.now() + 5000;
    while (h.streams.length < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(h.streams.length, N);
    const sent = await Promise.all(sims.map((s, i) => s.stream(25, { from: i * 1000 })));
    await Promise.all(sims.map((s) => s.close()));
    const summaries = await Promise.all(h.streams.map((s) => s.done));
    for (let i = 0; i < N; i++) {
      const sum = summaries.find((x) => x.callSid === `conc-${i}`)!;
      const pcm = Buffer.concat(sent[i]!);
      assert.equal(sum.frames, 25);
      assertWav(path.join(h.dir, `conc-${i}-1.wav`), { sampleRate: 16000, channels: 1, pcm });
      assert.ok(Buffer.concat(h.seen.get(`conc-${i}`)!).equals(pcm), `app frames of stream ${i}`);
    }
    assert.equal(h.engine.supervisor.count('recording'), 0, 'every stream actor is gone');
  } finally {
    await h.close();
  }
});

test('engine.close() finalises open files and closes the sockets with 1001', async () => {
  const h = await harness();
  const sims = [new JambonzAudioSim(h.url), new JambonzAudioSim(h.url)];
  await Promise.all(sims.map((s) => s.open()));
  sims.forEach((s, i) => s.sendMetadata(simMetadata(`shut-${i}`)));
  const sent = await Promise.all(sims.map((s) => s.stream(10, { intervalMs: 5 })));
  await new Promise((r) => setTimeout(r, 50));
  const waiting = new JambonzAudioSim(h.url); // still before its metadata
  await waiting.open();
  await h.close();
  for (let i = 0; i < 2; i++) {
    const closed = await sims[i]!.waitClose();
    assert.equal(closed.code, 1001);
    const s = h.streams.find((x) => x.callSid === `shut-${i}`)!;
    const sum = await s.done;
    assert.equal(sum.reason, 'shutdown');
    assertWav(path.join(h.dir, `shut-${i}-1.wav`), { sampleRate: 16000, channels: 1, pcm: Buffer.concat(sent[i]!) });
  }
  assert.equal((await waiting.waitClose()).code, 1001);
});

test('the stream is also a Readable / async iterable of frames that ends with the stream', async () => {
  const h = await harness();
  try {
    const { sim, s } = await h.openStream('iter');
    const collected = (async () => {
      const out: Buffer[] = [];
      for await (const pcm of s) out.push(pcm as Buffer);
      return out;
    })();
    const sent = await sim.stream(8, { intervalMs: 2 });
    await sim.close();
    assert.ok(Buffer.concat(await collected).equals(Buffer.concat(sent)));
  } finally {
    await h.close();
  }
});

test('examples/jambonz-recording.ts records a stream and echoes audio back', async () => {
  const dir = path.join(tmpRoot, 'example');
  const proc = spawn(process.execPath, ['--import', 'tsx', 'examples/jambonz-recording.ts'], {
    env: { ...process.env, PORT: '0', RECORDINGS_DIR: dir, ECHO: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  try {
    const deadline = Date.now() + 15000;
    let m: RegExpExecArray | null = null;
    while (!(m = /ws:\/\/127\.0\.0\.1:(\d+)\/recording/.exec(out)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(m, `example did not start: ${out}`);
    const sim = new JambonzAudioSim(`ws://127.0.0.1:${m[1]}/recording`);
    await sim.open();
    sim.sendMetadata(simMetadata('example-call'));
    const sent = await sim.stream(25);
    const echoed = await sim.waitBinary(25 * 640);
    assert.ok(echoed.equals(Buffer.concat(sent)), 'the example echoes the caller back (bidirectional streaming)');
    await sim.close();
    while (!/example-call.*finished|finished.*example-call/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(out, /example-call/);
    assertWav(path.join(dir, 'example-call-1.wav'), { sampleRate: 16000, channels: 1, pcm: Buffer.concat(sent) });
  } finally {
    proc.kill('SIGTERM');
    const code = await new Promise((r) => proc.on('exit', r));
    assert.equal(code, 0, out);
  }
});
