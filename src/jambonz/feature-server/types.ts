// Public types of the feature-server role: `createEngine({ jambonzApp })` runs every inbound SIP
// call as a jambonz session against an application (a `ws.jambonz.org` URL or an in-process hook
// handler) and executes the verbs it sends on the call itself.
import type { JambonzHookHandler, JambonzHookOptions } from '../hook-types.js';

/** Text to speech for `say`: returns a WAV file to play (any rate; callchart resamples). */
export interface JambonzTtsProvider {
  synthesize(text: string, opts: { vendor?: string; language?: string; voice?: string }): Promise<string>;
}

/**
 * Speech to text for `gather` with `input: ['speech']`: one `start` per gather, fed the caller's
 * audio until the gather ends. Plug in any recogniser (a cloud vendor's streaming API, a local
 * engine); callchart ships none.
 */
export interface JambonzSttProvider {
  start(opts: JambonzSttOptions, events: JambonzSttEvents): JambonzSttSession;
}

export interface JambonzSttOptions {
  /** From the verb's `recognizer` (or `config`'s): vendor, language (default `en-US`), hints. */
  vendor?: string;
  language: string;
  hints: string[];
}

/** What a recogniser reports; only the first `final` or `error` counts. */
export interface JambonzSttEvents {
  /** The caller started speaking (stops the prompt when the verb has `bargein`). */
  speechStarted(): void;
  /** The final transcript of the utterance. */
  final(result: { transcript: string; confidence: number; language?: string }): void;
  /** The recogniser failed: the gather ends with `reason: 'error'` (jambonz's stt-error). */
  error(err: Error): void;
}

export interface JambonzSttSession {
  /** One 20 ms frame of the caller's audio: 8 kHz 16-bit little-endian PCM (320 bytes). */
  write(frame: Buffer): void;
  /** The gather is over (result in, a digit came, killed): stop and release everything. */
  stop(): void;
}

/** What every `jambonzApp` form takes (also what the feature server is built with). */
export interface JambonzAppCommon {
  /**
   * Milliseconds the executor waits for the ack of session:new, a verb:hook or a session:redirect
   * (jambonz RESPONSE_TIMEOUT_MS, default 5000); past it the call gets `jambonz:error` and is hung up.
   */
  ackTimeoutMs?: number;
  /** `account_sid` / `application_sid` sent in session:new (default: fixed callchart placeholders). */
  accountSid?: string;
  applicationSid?: string;
  /** `say` speaks through this; without one, `say` is reported with `jambonz:error` and skipped. */
  tts?: JambonzTtsProvider;
  /**
   * `gather` with speech input listens through this. Without one, a speech-only gather is
   * reported with `jambonz:error` and skipped; one that also takes digits collects digits only.
   */
  stt?: JambonzSttProvider;
  /**
   * Where the `record` verb writes: its `path` is taken relative to this directory (a `.wav`
   * inside it; anything that would leave it is refused). Without it, `record` is reported with
   * `jambonz:error` and skipped: a remote app never chooses a file on this machine by itself.
   */
  recordDir?: string;
  /** Connects in all, the first included, when the app socket drops (jambonz MAX_RECONNECTS, 5). */
  maxReconnects?: number;
  /** Extra upgrade headers (e.g. `authorization`). */
  headers?: Record<string, string>;
  /**
   * Where `dial`'s `phone` targets go: a SIP `host[:port]` (a trunk, a PBX); the number becomes
   * the user part (`sip:<number>@<phoneTrunk>`). Without it a phone target is refused.
   */
  phoneTrunk?: string;
}

export type JambonzAppOptions =
  | (JambonzAppCommon & {
      /** The application's `ws://` / `wss://` URL. */
      url: string;
    })
  | (JambonzAppCommon & {
      /**
       * An in-process application: served as a hook route on this engine's WebSocket port (at
       * `path`, default `/jambonz-app`) and dialled over loopback like any other.
       */
      handler: JambonzHookHandler;
      path?: string;
      hookOptions?: JambonzHookOptions;
    });
