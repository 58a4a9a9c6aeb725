// A jambonz recording server: point a `listen` verb at it and every call's audio lands in a WAV
// file (one per stream, header finalised however the stream ends), with a log line per second of
// audio. With ECHO=1 it also plays the caller's audio straight back (bidirectional streaming).
//
//   npx tsx examples/jambonz-recording.ts
// Env: CALLCHART_HOST (default 127.0.0.1), CALLCHART_WS_PORT (default 4143, 0 = ephemeral),
// CALLCHART_DATA_DIR (recordings go to <dir>/recordings, as with the CLI; default the temp dir),
// ECHO=1 (play the caller's audio back).
//
// The verb, in your jambonz application:
//   { "verb": "listen", "url": "wss://<this host>/recording", "sampleRate": 16000, "mixType": "mono",
//     "bidirectionalAudio": { "enabled": true, "streaming": true, "sampleRate": 16000 } }
import os from 'node:os';
import path from 'node:path';
import { createEngine, createLogger, type JambonzAudioStream } from 'callchart';

const echo = process.env.ECHO === '1';
const engine = createEngine({
  host: process.env.CALLCHART_HOST ?? '127.0.0.1',
  wsPort: Number(process.env.CALLCHART_WS_PORT ?? process.env.PORT ?? 4143),
  logger: createLogger('info'),
  jambonz: {
    recordingsDir:
      process.env.RECORDINGS_DIR ??
      (process.env.CALLCHART_DATA_DIR ? path.join(process.env.CALLCHART_DATA_DIR, 'recordings') : path.join(os.tmpdir(), 'callchart-recordings')),
  },
});

// Shared across every stream: how many calls this server has recorded.
engine.jambonz.locals.recorded = 0;

engine.jambonz.audio('/recording', (stream: JambonzAudioStream) => {
  const { callSid, metadata } = stream;
  stream.logger.info({ from: metadata.from, to: metadata.to, sampleRate: stream.sampleRate, mixType: metadata.mixType }, 'recording');
  // One log line per second of audio, not per frame.
  const framesPerSecond = 50;
  let frames = 0;
  stream.on('audio', (pcm) => {
    if (++frames % framesPerSecond === 0) stream.logger.info({ seconds: frames / framesPerSecond, bytes: stream.stats.bytes }, 'audio');
    // Bidirectional streaming: the caller hears themselves (the verb needs streaming: true).
    if (echo) stream.sendAudio(pcm);
  });
  stream.on('dtmf', ({ dtmf }) => {
    // The caller can end the recording from the keypad (the verb needs passDtmf: true).
    if (dtmf === '#') stream.disconnect();
  });
  stream.once('close', (summary) => {
    engine.jambonz.locals.recorded = Number(engine.jambonz.locals.recorded) + 1;
    engine.logger.info({ callSid, path: summary.path, reason: summary.reason, durationMs: summary.durationMs, frames: summary.frames }, `recording of ${callSid} finished`);
  });
});

await engine.listen();
engine.logger.info({ port: engine.wsPort }, `jambonz recording server on ws://127.0.0.1:${engine.wsPort}/recording`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void engine.close());
