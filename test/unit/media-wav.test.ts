import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { closeSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseWav, decodeWavTo8kMono, encodeWav, readWavFile, WavWriter, PcmWavWriter, WavFormatError, wavHeader } from '../../src/media/codecs/wav.js';
import { diskStats, holdDiskThread, useRingForTests } from '../../src/media/codecs/wav-disk.js';
import { spawnSync } from 'node:child_process';
import { linearToAlaw, linearToUlaw } from '../../src/media/codecs/g711.js';
import type { Logger } from 'pino';
import { generateTone, toneRatio } from '../../src/media/codecs/tones.js';

function wavBytes(format: number, channels: number, rate: number, bits: number, data: Buffer, extraChunk = false): Buffer {
  const fmt = Buffer.alloc(16);
  fmt.writeUInt16LE(format, 0);
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(rate, 4);
  fmt.writeUInt32LE((rate * channels * bits) / 8, 8);
  fmt.writeUInt16LE((channels * bits) / 8, 12);
  fmt.writeUInt16LE(bits, 14);
  const chunk = (id: string, body: Buffer) => {
    const h = Buffer.alloc(8);
    h.write(id, 0, 'ascii');
    h.writeUInt32LE(body.length, 4);
    return Buffer.concat([h, body, body.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0)]);
  };
  const parts = [chunk('fmt ', fmt), ...(extraChunk ? [chunk('LIST', Buffer.from('odd'))] : []), chunk('data', data)];
  const body = Buffer.concat([Buffer.from('WAVE'), ...parts]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'ascii');
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

test('PCM16 8 kHz mono round-trip, with an odd-sized chunk before data', () => {
  const pcm = Int16Array.from([0, 1, -1, 32767, -32768]);
  const data = Buffer.alloc(10);
  pcm.forEach((s, i) => data.writeInt16LE(s, i * 2));
  const info = parseWav(wavBytes(1, 1, 8000, 16, data, true));
  assert.equal(info.sampleRate, 8000);
  assert.deepEqual([...info.samples], [...pcm]);
  assert.deepEqual([...decodeWavTo8kMono(encodeWav(pcm))], [...pcm]);
});

test('8-bit unsigned PCM, stereo mixdown and 16 kHz → 8 kHz', () => {
  assert.deepEqual([...parseWav(wavBytes(1, 1, 8000, 8, Buffer.from([128, 255, 0]))).samples], [0, 127 << 8, -32768]);
  const st = Buffer.alloc(8);
  st.writeInt16LE(1000, 0); st.writeInt16LE(3000, 2); st.writeInt16LE(-100, 4); st.writeInt16LE(-300, 6);
  assert.deepEqual([...decodeWavTo8kMono(wavBytes(1, 2, 8000, 16, st))], [2000, -200]);
  const tone16 = generateTone([440], 500, { sampleRate: 16000, amplitude: 8000 });
  const d = Buffer.alloc(tone16.length * 2);
  tone16.forEach((s, i) => d.writeInt16LE(s, i * 2));
  const out = decodeWavTo8kMono(wavBytes(1, 1, 16000, 16, d));
  assert.equal(out.length, 4000);
  assert.ok(toneRatio(out, 8000, 440) > 0.9);
});

test('G.711 A-law (6) and μ-law (7) WAVs as SIPp ships them', () => {
  const pcm = Int16Array.from([0, 1000, -1000, 20000]);
  const a = Buffer.from([...pcm].map(linearToAlaw));
  const u = Buffer.from([...pcm].map(linearToUlaw));
  const da = decodeWavTo8kMono(wavBytes(6, 1, 8000, 8, a));
  const du = decodeWavTo8kMono(wavBytes(7, 1, 8000, 8, u));
  pcm.forEach((s, i) => {
    assert.ok(Math.abs(da[i]! - s) <= Math.max(16, Math.abs(s) / 16));
    assert.ok(Math.abs(du[i]! - s) <= Math.max(16, Math.abs(s) / 16));
  });
});

test('rejects what it cannot read', () => {
  assert.throws(() => parseWav(Buffer.from('not a wave file at all')), WavFormatError);
  assert.throws(() => parseWav(wavBytes(85, 1, 8000, 0, Buffer.alloc(4))), /unsupported/);
});

test('WavWriter: header valid after each flush and after close; crash-truncated file still readable', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-wav-'));
  try {
    const path = join(dir, 'rec.wav');
    const w = await WavWriter.create(path, { flushBytes: 640 });
    assert.equal(readFileSync(path).length, 44);
    assert.deepEqual(parseWav(readFileSync(path)).samples.length, 0);
    const tone = generateTone([440], 100); // 800 samples = 1600 bytes → 2 automatic flushes
    w.write(tone);
    await w.flush();
    const mid = readFileSync(path);
    assert.equal(mid.readUInt32LE(40), 1600);
    assert.equal(mid.readUInt32LE(4), 36 + 1600);
    w.write(tone.subarray(0, 100));
    await w.close();
    const fin = readFileSync(path);
    assert.equal(fin.readUInt32LE(40), 1800);
    assert.deepEqual([...parseWav(fin).samples], [...tone, ...tone.subarray(0, 100)]);
    assert.throws(() => w.write(tone), /closed/);
    // A writer that died before patching leaves size 0: the reader takes the data to EOF.
    const crashed = Buffer.concat([wavHeader(0), Buffer.alloc(320)]);
    writeFileSync(join(dir, 'c.wav'), crashed);
    assert.equal(readWavFile(join(dir, 'c.wav')).length, 160);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Forty files flushing at once, frames interleaved across them; counts the event loop's own file
 * writes (libuv pool jobs, and synchronous writes) and checks every file byte for byte.
 */
async function fortyFiles(frames = 20): Promise<{ poolWrites: number; syncWrites: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'cc-pcmwav-'));
  const { write, writev, writeSync } = fs;
  const counts = { poolWrites: 0, syncWrites: 0 };
  try {
    const writers = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      PcmWavWriter.create(join(dir, `s${i}.wav`), { sampleRate: 16000, channels: 1, flushBytes: 1280 })));
    const countPool = (real: (...a: unknown[]) => void) => (...args: unknown[]) => {
      counts.poolWrites++;
      real(...args);
    };
    (fs as { write: unknown }).write = countPool(write as unknown as (...a: unknown[]) => void);
    (fs as { writev: unknown }).writev = countPool(writev as unknown as (...a: unknown[]) => void);
    (fs as { writeSync: unknown }).writeSync = (...args: Parameters<typeof writeSync>) => {
      counts.syncWrites++;
      return writeSync(...args);
    };
    const frame = (i: number, n: number) => Buffer.alloc(640, (i * 7 + n) & 0xff);
    // Interleaved across files: with 20 frames every file flushes about ten times.
    for (let n = 0; n < frames; n++) writers.forEach((w, i) => w.write(frame(i, n)));
    await Promise.all(writers.map((w) => w.close()));
    writers.forEach((w, i) => {
      const bytes = readFileSync(w.path);
      assert.equal(bytes.readUInt32LE(40), frames * 640, `file ${i}: data size in the header`);
      assert.equal(bytes.readUInt32LE(4), 36 + frames * 640, `file ${i}: RIFF size`);
      assert.deepEqual(bytes.subarray(44), Buffer.concat(Array.from({ length: frames }, (_, n) => frame(i, n))), `file ${i}: the audio`);
    });
    return counts;
  } finally {
    fs.write = write;
    fs.writev = writev;
    fs.writeSync = writeSync;
    rmSync(dir, { recursive: true, force: true });
  }
}

test('PcmWavWriter: forty files flushing at once are written whole and in order by the disk thread, no write on the event loop', async () => {
  const { poolWrites, syncWrites } = await fortyFiles();
  assert.equal(poolWrites, 0, 'fs.write/fs.writev calls');
  assert.equal(syncWrites, 0, 'synchronous writes on the event loop');
});

test('PcmWavWriter: with the ring full (the thread held, as by a stalled disk) frames wait on the loop and still reach every file whole and in order', async () => {
  useRingForTests(16 * 1024);
  try {
    const before = diskStats.backlogged;
    // The thread sleeps before it reads anything: 40 files × 30 frames (768 KB) cannot fit in 16 KiB.
    holdDiskThread(100);
    await fortyFiles(30);
    assert.ok(diskStats.backlogged - before > 1000, `${diskStats.backlogged - before} records waited on the loop`);
  } finally {
    useRingForTests(0);
  }
});

test('PcmWavWriter: a file whose audio would take the loop past BACKLOG_MAX_BYTES fails: its close() says so and the file keeps the audio before', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-pcmwav-'));
  const errors: unknown[] = [];
  const logger = { warn: () => {}, error: (o: unknown) => errors.push(o) } as unknown as Logger;
  useRingForTests(4096, 16 * 1024);
  try {
    const w = await PcmWavWriter.create(join(dir, 'behind.wav'), { sampleRate: 16000, channels: 1, flushBytes: 1280, staggerFirstFlush: false, logger });
    holdDiskThread(100);
    // 4 KiB of ring (six frames) and 16 KiB waiting (25) take 31 frames; the rest is refused.
    for (let n = 0; n < 60; n++) w.write(Buffer.alloc(640, n + 1));
    await assert.rejects(w.close(), /the disk is behind by more than/);
    assert.equal(errors.length, 1, 'one error logged');
    const bytes = readFileSync(w.path);
    const frames = bytes.readUInt32LE(40) / 640;
    assert.equal(frames, 31, 'frames kept');
    assert.equal(bytes.length, 44 + frames * 640);
    assert.deepEqual(bytes.subarray(44), Buffer.concat(Array.from({ length: frames }, (_, n) => Buffer.alloc(640, n + 1))));
  } finally {
    useRingForTests(0);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PcmWavWriter: header and audio match after each flush() while the file stays open', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-pcmwav-'));
  try {
    const w = await PcmWavWriter.create(join(dir, 'open.wav'), { sampleRate: 8000, channels: 1, flushBytes: 4000, staggerFirstFlush: false });
    for (let n = 1; n <= 3; n++) {
      w.write(Buffer.alloc(320, n));
      await w.flush();
      const bytes = readFileSync(w.path);
      assert.equal(bytes.length, 44 + n * 320, `flush ${n}: file length`);
      assert.equal(bytes.readUInt32LE(40), n * 320, `flush ${n}: data size`);
      assert.deepEqual(bytes.subarray(44 + (n - 1) * 320), Buffer.alloc(320, n), `flush ${n}: the audio`);
    }
    await w.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PcmWavWriter: a file whose write fails fails alone: its close() reports the error, the others are still written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-pcmwav-'));
  try {
    const opts = { sampleRate: 8000, channels: 1, flushBytes: 640, staggerFirstFlush: false } as const;
    const broken = await PcmWavWriter.create(join(dir, 'broken.wav'), opts);
    const fine = await PcmWavWriter.create(join(dir, 'fine.wav'), opts);
    // The descriptor goes away under the writer (as a disk error would fail it): its flushes fail
    // with EBADF on the thread. Nothing opens a file before they run.
    closeSync((broken as unknown as { fh: { fd: number } }).fh.fd);
    broken.write(Buffer.alloc(640, 1));
    fine.write(Buffer.alloc(640, 2));
    broken.write(Buffer.alloc(640, 3));
    await assert.rejects(broken.close(), /EBADF/);
    await fine.close();
    const bytes = readFileSync(fine.path);
    assert.equal(bytes.readUInt32LE(40), 640);
    assert.deepEqual(bytes.subarray(44), Buffer.alloc(640, 2));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PcmWavWriter: a process that recorded exits on its own (the idle disk thread does not hold it), with the file written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-pcmwav-'));
  const wav = JSON.stringify(new URL('../../src/media/codecs/wav.ts', import.meta.url).href);
  const run = (code: string) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { timeout: 20_000, encoding: 'utf8' });
    assert.equal(r.status, 0, `exit status (signal ${r.signal}): ${r.stderr}`);
  };
  try {
    const file = join(dir, 'child.wav');
    // A file left open, never flushed nor closed: no flush was ever asked for, so nothing ever held the thread.
    run(`
      const { PcmWavWriter } = await import(${wav});
      const open = await PcmWavWriter.create(${JSON.stringify(file + '.open')}, { sampleRate: 8000, channels: 1, flushBytes: 32000 });
      open.write(Buffer.alloc(320, 1));`);
    // A file closed: the thread is held while the close waits, and let go after.
    run(`
      const { PcmWavWriter } = await import(${wav});
      const w = await PcmWavWriter.create(${JSON.stringify(file)}, { sampleRate: 8000, channels: 1, flushBytes: 32000 });
      for (let n = 0; n < 10; n++) w.write(Buffer.alloc(320, n));
      await w.close();`);
    const bytes = readFileSync(file);
    assert.equal(bytes.readUInt32LE(40), 3200);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
