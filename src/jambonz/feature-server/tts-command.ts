// A TTS provider that runs a local command per phrase (e.g. `espeak-ng -w {file} {text}`), for
// `say` when no cloud vendor is wanted. The command runs without a shell: `{text}`, `{file}`,
// `{voice}` and `{language}` are replaced inside its arguments. Results are cached by phrase.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { JambonzTtsProvider } from './types.js';

export interface CommandTtsOptions {
  /** Where WAVs are written (default `<tmp>/callchart-tts`). */
  dir?: string;
  /** Longest one synthesis may take (default 10 s). */
  timeoutMs?: number;
}

/** `argv`: the command and its arguments, e.g. `['espeak-ng', '-w', '{file}', '{text}']`. */
export function commandTts(argv: string[], opts: CommandTtsOptions = {}): JambonzTtsProvider {
  if (argv.length === 0 || !argv[0]) throw new Error('commandTts needs a command');
  if (!argv.some((a) => a.includes('{file}'))) throw new Error('commandTts: the command must write {file}');
  const dir = opts.dir ?? path.join(os.tmpdir(), 'callchart-tts');
  const pending = new Map<string, Promise<string>>();
  return {
    async synthesize(text, o) {
      const key = createHash('sha256').update(JSON.stringify([argv, text, o.voice ?? '', o.language ?? ''])).digest('hex').slice(0, 32);
      const file = path.join(dir, `${key}.wav`);
      const running = pending.get(key);
      if (running) return running;
      const p = (async () => {
        try {
          await stat(file);
          return file;
        } catch {
          /* not cached */
        }
        await mkdir(dir, { recursive: true });
        const sub = (a: string): string => a.replaceAll('{text}', text).replaceAll('{file}', file).replaceAll('{voice}', o.voice ?? '').replaceAll('{language}', o.language ?? '');
        await new Promise<void>((resolve, reject) =>
          execFile(argv[0]!, argv.slice(1).map(sub), { timeout: opts.timeoutMs ?? 10_000 }, (err) => (err ? reject(new Error(`tts command failed: ${err.message}`)) : resolve())),
        );
        return file;
      })();
      pending.set(key, p);
      try {
        return await p;
      } finally {
        pending.delete(key);
      }
    },
  };
}
