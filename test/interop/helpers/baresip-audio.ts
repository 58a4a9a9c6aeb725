// What a baresip heard, read back from its sndfile recording, and its log on a failed assertion:
// shared by the interop tests that check baresip's audio by frequency.
import { readFileSync } from 'node:fs';
import { decodeWavTo8kMono } from '../../../src/media/index.js';
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
