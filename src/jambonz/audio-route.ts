// jambonz audio routes: the server side of the WebSocket jambonz's `listen`/`stream` verb opens
// (subprotocol `audio.jambonz.org`). One socket is one audio stream of one call:
//
//   connect ──► metadata text frame (validated) ──► stream actor spawned, WAV opened, handler called
//           ──► binary L16 frames: counted, written to the WAV, handed to the application
//           ──► socket closes (cleanly or not) / app disconnects / engine shuts down / max duration
//           ──► WAV header finalised, `close` event with the summary
//
// This module is the socket's life up to the metadata frame and the route's actor registry: the
// audioStream machine is provided once per route, its actions dispatched by actor id to the stream
// (audio-stream.ts). Anything wrong with one socket (bad metadata, audio before metadata, a
// handler that throws) closes that socket only.
import { promises as fsp } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import { audioStreamMachine, defaultAudioStreamDelays, type AudioStreamMachine, type AudioStreamOutput } from '../../machines/audioStream.machine.js';
import { ActorRegistry } from '../actors/registry.js';
import { LimitExceededError } from '../actors/supervisor.js';
import type { WsRoute } from '../http/server.js';
import { DEFAULT_FRAME_RATES, FrameGate, RATE_LIMIT_CLOSE, checkRateLimit, type FrameRates } from '../http/rate-limit.js';
import { WS_CLOSE } from '../http/close-codes.js';
import type { JambonzContext, JambonzRoute } from './context.js';
import { JAMBONZ_AUDIO_SUBPROTOCOL, parseAudioMetadata, type JambonzAudioMetadata } from './audio-protocol.js';
import type { JambonzAudioHandler, JambonzAudioOptions } from './audio-types.js';
import { AudioStreamSession, type AudioStreamRoute } from './audio-stream.js';

const DEFAULTS = {
  maxPayload: 1024 * 1024,
  metadataTimeoutMs: 10_000,
  flushBytes: 32_000,
  maxPendingBytes: 1024 * 1024,
};
/** How long close() waits for open files to be finalised before closing sockets anyway. */
const SHUTDOWN_FINALIZE_MS = 5000;

let routeSeq = 0;

/** The WsRoute (plus `close()`) serving jambonz audio streams on `routePath`. */
export function createAudioRoute(ctx: JambonzContext, routePath: string, handler: JambonzAudioHandler, opts: JambonzAudioOptions): WsRoute & JambonzRoute {
  const log = ctx.logger.child({ route: routePath, protocol: JAMBONZ_AUDIO_SUBPROTOCOL });
  /** Streams whose actor runs, for shutdown (the registry dispatches the actions by actor id). */
  const streams = new Set<AudioStreamSession>();
  /** Sockets not yet past their metadata frame (closed on shutdown too). */
  const waiting = new Set<WebSocket>();
  const dir = opts.recordingsDir ?? ctx.recordingsDir;
  let dirReady: Promise<void> | undefined;
  let closing = false;
  const routeId = ++routeSeq;
  let streamSeq = 0;
  const metadataTimeoutMs = opts.metadataTimeoutMs ?? DEFAULTS.metadataTimeoutMs;
  const rates = {
    text: opts.textRate === false ? false : checkRateLimit('jambonz audio textRate', opts.textRate ?? DEFAULT_FRAME_RATES.jambonzAudio.text),
    binary: opts.binaryRate === false ? false : checkRateLimit('jambonz audio binaryRate', opts.binaryRate ?? DEFAULT_FRAME_RATES.jambonzAudio.binary),
  } as const;

  const registry = new ActorRegistry<AudioStreamMachine, AudioStreamSession>(ctx.supervisor, (session) =>
    audioStreamMachine.provide({
      delays: { maxDuration: opts.maxDurationMs ?? defaultAudioStreamDelays.maxDuration },
      actions: {
        openWriter: ({ self }) => session(self.id)?.openWriter(),
        finalize: ({ self }) => session(self.id)?.finalize(),
        abort: ({ self }) => session(self.id)?.abort(),
      },
    }),
  );

  const name = `jambonz-audio ${routePath}`;
  const route: AudioStreamRoute = {
    locals: ctx.locals,
    record: opts.record ?? true,
    dir,
    flushBytes: opts.flushBytes ?? DEFAULTS.flushBytes,
    maxPendingBytes: opts.maxPendingBytes ?? DEFAULTS.maxPendingBytes,
    ensureDir: () => (dirReady ??= fsp.mkdir(dir, { recursive: true }).then(() => undefined)),
  };

  const sockets: SocketsShared = { log, rates, metadataTimeoutMs, waiting, open: (ws, metadata, remote) => open(ws, metadata, remote) };

  return {
    name,
    path: routePath,
    maxPayload: opts.maxPayload ?? DEFAULTS.maxPayload,
    protocols: [JAMBONZ_AUDIO_SUBPROTOCOL],
    requireProtocol: true,
    match: (url) => (url.pathname === routePath ? {} : null),

    onConnection(ws: WebSocket, req: IncomingMessage) {
      // join, not a template: one flat string instead of a rope, kept for the stream's life.
      const remote = [req.socket.remoteAddress ?? '?', req.socket.remotePort ?? 0].join(':');
      if (closing) {
        ws.close(WS_CLOSE.goingAway, 'server shutting down');
        return;
      }
      const c = new AudioSocket(sockets, ws, remote);
      waiting.add(ws);
      c.metadataTimer = setTimeout(refuseLate, metadataTimeoutMs, c);
      audioSockets.set(ws, c);
      ws.on('message', onSocketMessage);
      ws.on('close', onSocketClose);
    },

    async close() {
      closing = true;
      for (const ws of waiting) ws.close(WS_CLOSE.goingAway, 'server shutting down');
      waiting.clear();
      const open = [...streams];
      for (const x of open) x.shutdown();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(open.map((x) => x.done)),
        new Promise<void>((r) => {
          timer = setTimeout(() => {
            log.warn({ open: open.filter((x) => !x.isFinished).length }, 'audio streams not finalised in time');
            r();
          }, SHUTDOWN_FINALIZE_MS);
        }),
      ]);
      clearTimeout(timer);
    },
  };

  function open(ws: WebSocket, metadata: JambonzAudioMetadata, remote: string): AudioStreamSession | undefined {
    const id = ['jambonz-audio', routeId, ++streamSeq].join('-');
    // The session is registered before the actor starts: the first state's entry action (open
    // the writer) looks it up by actor id.
    // The route's logger until the actor's own (with the call's bindings) exists, a moment later.
    const s = new AudioStreamSession(route, id, metadata, ws, log);
    streams.add(s);
    try {
      const sup = registry.spawn(s, {
        kind: 'recording',
        id,
        input: { streamId: id, callSid: metadata.callSid, record: route.record },
        traced: true,
        bindings: { callSid: metadata.callSid, route: routePath },
        onDone: (out) => s.finish(out as AudioStreamOutput),
        onCrash: (err) => s.lost('error', err instanceof Error ? err.message : String(err)),
        onExit: () => {
          streams.delete(s);
          // Stopped from outside (supervisor.stopAll) before finishing: the file is still closed.
          // Deferred, because a crash releases the actor before its onCrash reports the error.
          queueMicrotask(() => s.lost('shutdown', 'stream actor stopped'));
        },
      });
      s.actor = sup.ref;
      s.logger = sup.logger;
    } catch (err) {
      streams.delete(s);
      const reason = err instanceof LimitExceededError ? err.message : 'cannot start audio stream';
      log.warn({ err, remote, callSid: metadata.callSid }, 'audio stream refused');
      ws.close(err instanceof LimitExceededError ? WS_CLOSE.tryAgainLater : WS_CLOSE.internal, reason.slice(0, 120));
      return undefined;
    }
    s.logger.info({ remote, sampleRate: s.sampleRate, mixType: metadata.mixType, record: route.record }, 'audio stream started');
    try {
      const r = handler(s);
      if (r && typeof r.then === 'function') r.then(undefined, (err: unknown) => s.fail(err, 'handler'));
    } catch (err) {
      s.fail(err, 'handler');
    }
    return s;
  }
}

/** What every socket of one audio route shares (one object per route). */
interface SocketsShared {
  readonly log: Logger;
  readonly rates: FrameRates;
  readonly metadataTimeoutMs: number;
  /** Sockets not yet past their metadata frame. */
  readonly waiting: Set<WebSocket>;
  open(ws: WebSocket, metadata: JambonzAudioMetadata, remote: string): AudioStreamSession | undefined;
}

/**
 * One audio socket up to and after its metadata frame. A class rather than closures: a live stream
 * holds this object (its socket's listeners are shared), nothing per frame.
 */
class AudioSocket {
  s: AudioStreamSession | undefined;
  metadataTimer: NodeJS.Timeout | undefined;
  private readonly gate: FrameGate;

  constructor(
    private readonly r: SocketsShared,
    private readonly ws: WebSocket,
    readonly remote: string,
  ) {
    this.gate = new FrameGate(r.rates);
  }

  refuse(reason: string): void {
    this.r.log.warn({ remote: this.remote, reason }, 'audio socket refused');
    this.ws.close(WS_CLOSE.policy, reason.slice(0, 120));
  }

  onMessage(data: RawData, isBinary: boolean): void {
    const ws = this.ws;
    if (!this.gate.allow(isBinary)) {
      // The stream (if any) ends as a socket close: its WAV is finalised with what came in time.
      if (ws.readyState === ws.OPEN) this.r.log.warn({ remote: this.remote, callSid: this.s?.callSid, isBinary }, 'audio socket over its rate limit: closed');
      ws.close(RATE_LIMIT_CLOSE.code, RATE_LIMIT_CLOSE.reason);
      return;
    }
    const s = this.s;
    if (s) {
      if (s.isFinished) return;
      try {
        if (isBinary) s.onBinary(data as Buffer);
        else s.onText((data as Buffer).toString('utf8'));
      } catch (err) {
        s.fail(err, isBinary ? 'audio listener' : 'event listener');
      }
      return;
    }
    if (ws.readyState !== ws.OPEN) return; // already refused
    if (isBinary) return this.refuse('binary frame before metadata');
    const parsed = parseAudioMetadata((data as Buffer).toString('utf8'));
    if (!parsed.ok) return this.refuse(parsed.reason);
    clearTimeout(this.metadataTimer);
    this.metadataTimer = undefined;
    this.r.waiting.delete(ws);
    this.s = this.r.open(ws, parsed.metadata, this.remote);
  }

  /** The metadata timer fired. */
  late(): void {
    this.metadataTimer = undefined;
    this.refuse(`no metadata within ${this.r.metadataTimeoutMs} ms`);
  }

  onClose(code: number): void {
    clearTimeout(this.metadataTimer);
    this.metadataTimer = undefined;
    this.r.waiting.delete(this.ws);
    this.s?.onSocketClosed(code);
  }
}

/**
 * Each socket's AudioSocket, for the two socket listeners every socket shares (`this` is the
 * socket): no pair of closures and their scope per stream.
 */
const audioSockets = new WeakMap<WebSocket, AudioSocket>();
function onSocketMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  audioSockets.get(this)?.onMessage(data, isBinary);
}
function onSocketClose(this: WebSocket, code: number): void {
  const c = audioSockets.get(this);
  if (!c) return;
  audioSockets.delete(this);
  c.onClose(code);
}

function refuseLate(c: AudioSocket): void {
  c.late();
}
