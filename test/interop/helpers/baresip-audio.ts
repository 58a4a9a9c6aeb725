// What a baresip heard, read back from its sndfile recording, and its log on a failed assertion:
// shared by the interop tests that check baresip's audio by frequency.
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { decodeWavTo8kMono, toneRatio } from '../../../src/media/index.js';
import type { Baresip } from './baresip.js';
import { eventually } from './engine.js';

/** What a baresip instance heard on its (last) call, as 8 kHz mono samples. */
export async function heardBy(p: Baresip): Promise<Int16Array> {
  let files: string[] = [];
  await eventually(() => (files = p.recordings().decoded).length > 0, 5000, `baresip wrote a -dec.wav (log: ${p.log().slice(-500)})`);
  // sndfile finalises the file when the call's audio stream is torn down.
  let samples: Int16Array = new Int16Array(0);
  await eventually(() => {
    try {
      samples = decodeWavTo8kMono(readFileSync(files[files.length - 1]!));
      return samples.length > 8000;
    } catch {
      return false;
    }
  }, 5000, `baresip's recording ${files[files.length - 1]} to hold audio`);
  return samples;
}

/** Rethrow `err` with the tail of each baresip's log appended. */
export function withDiagnostics(err: unknown, peers: Baresip[]): never {
  if (err instanceof Error) for (const p of peers) err.message += `\n--- baresip ${p.aor}:${p.sipPort} log (tail) ---\n${p.log().slice(-2000)}`;
  throw err;
}

/**
 * Two phones on one call: alice plays 500 Hz and bob 1500 Hz; each must hear the other's tone
 * (share > 0.5) and not its own (share < 0.05).
 */
export async function assertHearEachOther(alice: Baresip, bob: Baresip): Promise<void> {
  const heardA = await heardBy(alice);
  const heardB = await heardBy(bob);
  const a1500 = toneRatio(heardA, 8000, 1500);
  const a500 = toneRatio(heardA, 8000, 500);
  const b500 = toneRatio(heardB, 8000, 500);
  const b1500 = toneRatio(heardB, 8000, 1500);
  assert.ok(a1500 > 0.5, `alice heard bob's 1500 Hz: share ${a1500.toFixed(2)}`);
  assert.ok(a500 < 0.05, `alice did not hear her own 500 Hz: share ${a500.toFixed(3)}`);
  assert.ok(b500 > 0.5, `bob heard alice's 500 Hz: share ${b500.toFixed(2)}`);
  assert.ok(b1500 < 0.05, `bob did not hear his own 1500 Hz: share ${b1500.toFixed(3)}`);
}
