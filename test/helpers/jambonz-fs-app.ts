// Shared pieces of the feature-server tests: a raw jambonz application (a ws.jambonz.org server
// that answers session:new with fixed verbs and records every message), tone WAV files, and a
// call's received audio collected as PCM.
import { after } from 'node:test';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { encodeWav } from '../../src/media/codecs/wav.js';
import { generateTone } from '../../src/media/codecs/tones.js';
import type { Call } from '../../src/call/call.js';

export type AppMsg = { type: string; msgid: string; call_sid: string; data: Record<string, unknown>; hook?: string };

/**
 * A raw app: session:new gets `first` as its ack; with `hookReply`, each verb:hook is acked with
 * those verbs. Every message is kept in `got`. Closed after the test file.
 */
export async function rawJambonzApp(first: unknown[], hookReply?: unknown[]): Promise<{ got: AppMsg[]; url: string }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (p) => (p.has('ws.jambonz.org') ? 'ws.jambonz.org' : false) });
  await new Promise((r) => wss.once('listening', r));
  const got: AppMsg[] = [];
  wss.on('connection', (ws) => {
    ws.on('message', (raw) => {
      const m = JSON.parse(String(raw)) as AppMsg;
      got.push(m);
      if (m.type === 'session:new') ws.send(JSON.stringify({ type: 'ack', msgid: m.msgid, data: first }));
      if (m.type === 'verb:hook' && hookReply) ws.send(JSON.stringify({ type: 'ack', msgid: m.msgid, data: hookReply }));
    });
  });
  after(() => new Promise((r) => wss.close(r)));
  return { got, url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/app` };
}

/** Write `<dir>/<hz>.wav`: a tone of `ms` at 8 kHz, amplitude 8000. */
export function toneWav(dir: string, hz: number, ms = 3000): string {
  const f = path.join(dir, `${hz}.wav`);
  writeFileSync(f, encodeWav(generateTone([hz], ms, { amplitude: 8000 }), { sampleRate: 8000 }));
  return f;
}

/** Collect a call's received audio (8 kHz PCM) from now on. */
export function collectAudio(call: Call): () => Int16Array {
  const chunks: Buffer[] = [];
  call.on('audio', (f) => void chunks.push(Buffer.from(f)));
  return () => {
    const b = Buffer.concat(chunks);
    return new Int16Array(b.buffer, b.byteOffset, b.byteLength >> 1);
  };
}
