// An in-process callchart engine for interop tests, started per the SIP UA contract:
//   createEngine({ host, wsPort: 0, sipPort: 0, rtpPorts, onIncomingCall, logger }) → engine.listen()
//   → engine.sipPort; engine.call(uri, { from?, auth? }) → Call; call.transfer(uri); engine.close().
// The contract members are reached through the SipEngine/SipCall views below so this file compiles
// before the UA lands; startEngine() checks them at run time and fails loudly if they are missing.
import { createEngine, type Engine, type EngineOptions } from '../../../src/engine.js';
import type { Call, IncomingCallDecision } from '../../../src/call/call.js';
import type { CallEnd, DtmfSource } from '../../../machines/call.machine.js';
import { silentLogger } from '../../../src/logger.js';
import { LOOPBACK } from './procs.js';

/** The SIP surface of Engine (contract with the SIP UA). */
export interface SipEngine {
  readonly sipPort: number;
  call(uri: string, opts?: { from?: string; auth?: { username: string; password: string } }): Promise<Call>;
}

/** The SIP surface of Call (contract with the SIP UA). */
export interface SipCall {
  transfer(uri: string): void | Promise<void>;
}

/** Everything observed on one callchart call, recorded from the moment the engine hands it out. */
export interface CallRecord {
  call: Call;
  states: string[];
  dtmf: Array<{ digit: string; source: DtmfSource }>;
  audioFrames: number;
  answered: boolean;
  end: Promise<CallEnd>;
}

export function record(call: Call): CallRecord {
  const rec: CallRecord = {
    call,
    states: [call.state],
    dtmf: [],
    audioFrames: 0,
    answered: false,
    end: call.waitForEnd(),
  };
  call.on('state', (s) => rec.states.push(s));
  call.on('dtmf', (digit, source) => rec.dtmf.push({ digit, source }));
  call.on('audio', () => rec.audioFrames++);
  call.on('answered', () => (rec.answered = true));
  return rec;
}

export interface TestEngine {
  engine: Engine;
  sip: SipEngine;
  sipPort: number;
  /** Incoming calls, in arrival order. */
  incoming: CallRecord[];
  /** Resolves with the n-th (0-based) incoming call once it arrives. */
  nthIncoming(n: number, timeoutMs?: number): Promise<CallRecord>;
  /** Place a call through engine.call() and record it. */
  dial(uri: string, opts?: Parameters<SipEngine['call']>[1]): Promise<CallRecord>;
  close(): Promise<void>;
}

export interface TestEngineOptions {
  /** Decide each incoming call (default: accept). */
  decide?: (rec: CallRecord) => IncomingCallDecision | void | Promise<IncomingCallDecision | void>;
  rtpPorts?: string;
  /** Extra SIP options (e.g. `tcpPort: 0` for SIP over TCP). */
  sip?: EngineOptions['sip'];
  /** SRTP mode of the engine's SIP UA (EngineOptions.sip.srtp). */
  srtp?: 'off' | 'optional' | 'required';
  /** MoosicBox playback sessions (EngineOptions.playback), e.g. `{ tracks: { dir } }`. */
  playback?: EngineOptions['playback'];
}

/** Start an engine on loopback with ephemeral WS and SIP ports. */
export async function startEngine(opts: TestEngineOptions = {}): Promise<TestEngine> {
  const incoming: CallRecord[] = [];
  const waiters: Array<() => void> = [];
  const engine = createEngine({
    host: LOOPBACK,
    wsPort: 0,
    sipPort: 0,
    rtpPorts: opts.rtpPorts ?? '30000-30999',
    logger: silentLogger(),
    inboundCall: false,
    ...(opts.playback ? { playback: opts.playback } : {}),
    ...(opts.sip || opts.srtp ? { sip: { ...opts.sip, ...(opts.srtp ? { srtp: opts.srtp } : {}) } } : {}),
    onIncomingCall: (call) => {
      const rec = record(call);
      incoming.push(rec);
      for (const w of waiters.splice(0)) w();
      return opts.decide ? opts.decide(rec) : { action: 'accept' };
    },
  });
  await engine.listen();
  const sip = engine as unknown as Partial<SipEngine>;
  const problems: string[] = [];
  if (typeof sip.sipPort !== 'number' || !(sip.sipPort > 0)) problems.push(`engine.sipPort is ${String(sip.sipPort)} (expected the bound SIP UDP port)`);
  if (typeof sip.call !== 'function') problems.push('engine.call(uri, opts) is missing');
  if (problems.length) {
    await engine.close();
    throw new Error(`callchart's SIP UA is not available per the interop contract: ${problems.join('; ')}`);
  }
  const sipEngine = sip as SipEngine;
  return {
    engine,
    sip: sipEngine,
    sipPort: sipEngine.sipPort,
    incoming,
    async nthIncoming(n, timeoutMs = 10_000) {
      const t0 = Date.now();
      while (incoming.length <= n) {
        if (Date.now() - t0 > timeoutMs) throw new Error(`callchart got ${incoming.length} incoming call(s), waited for #${n + 1} for ${timeoutMs} ms`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, 50);
          waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
      return incoming[n]!;
    },
    async dial(uri, callOpts) {
      return record(await sipEngine.call(uri, callOpts));
    },
    close: () => engine.close(),
  };
}

/** Resolve when `pred()` holds (polled), or reject with `what`. */
export async function eventually(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Race a promise against a deadline with a clear message. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}
