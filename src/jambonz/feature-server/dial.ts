// The `dial` verb on a SIP call (jambonz-feature-server lib/tasks/dial.js): an outbound B leg to
// every target at once through the engine's UAC (simultaneous ringing), the first to answer bridged
// to the caller; the dial machine (machines/jambonzDial.machine.ts) holds the protocol (ringing,
// timers, which leg won, who hangs up whom) and the outcome; this file resolves the targets, places
// and bridges the calls, and reports the actionHook (`dial_call_sid`, `dial_call_status`,
// `dial_sip_status`, as dial.js's results are snake-cased).
import { randomUuid } from '../../random.js';
import type { Actor } from 'xstate';
import type { Call } from '../../call/call.js';
import type { Bridge } from '../../media/mixing/bridge.js';
import type { OutboundCallOptions } from '../../sip/ua/options.js';
import type { ExecVerb } from '../../../machines/jambonzVerbExecutor.machine.js';
import type { DialInput, DialOutput, JambonzDialMachine, WhisperParty } from '../../../machines/jambonzDial.machine.js';
import { whisperVerb, type VerbHost, type VerbResult } from './verbs.js';
import { hookUrl } from './verb-util.js';

export interface DialWire {
  placeCall(legs: number[]): void;
  ringCaller(): void;
  answerCaller(): void;
  bridge(leg: number, muted: { caller: boolean; callee: boolean }): void;
  /** Mute one party on the live bridge (mute:status); no bridge: nothing (the machine keeps the wish). */
  mute(party: WhisperParty, muted: boolean): void;
  unbridge(): void;
  startWhisper(to: WhisperParty, verbs: readonly object[]): void;
  stopWhisper(): void;
  hangupB(legs: number[]): void;
  /** The bridged leg's dial_call_sid (whisper's target test), once one answered. */
  calleeSid(): string | undefined;
}

/** Legs rung at once at most (dial.js sets no limit; this keeps one verb from placing hundreds). */
export const MAX_DIAL_TARGETS = 10;

/** dial.js: `timeout` default 60 s. */
const DEFAULT_TIMEOUT_S = 60;
/** A timer's range (setTimeout caps at 2^31-1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/** SIP headers from the app: names must be tokens and values single-line strings (no header injection). */
function sipHeaders(h: unknown, where: string): Record<string, string> {
  if (h === undefined) return {};
  if (!h || typeof h !== 'object' || Array.isArray(h)) throw new Error(`dial: ${where} headers must be an object`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h as Record<string, unknown>)) {
    if (!HEADER_NAME.test(k)) throw new Error(`dial: ${where} header name ${JSON.stringify(k)} is not a SIP token`);
    const s = typeof v === 'number' ? String(v) : v;
    if (typeof s !== 'string' || /[\r\n]/.test(s)) throw new Error(`dial: ${where} header ${k} must be a one-line string`);
    out[k] = s;
  }
  return out;
}

interface DialTarget {
  uri: string;
  auth?: { username: string; password: string };
  headers: Record<string, string>;
}

function resolveTarget(host: VerbHost, t: Record<string, unknown>): DialTarget {
  const headers = sipHeaders(t.headers, 'target');
  const a = t.auth as { username?: unknown; password?: unknown } | undefined;
  const auth = a && typeof a.username === 'string' && typeof a.password === 'string' ? { username: a.username, password: a.password } : undefined;
  switch (t.type) {
    case 'sip': {
      const uri = typeof t.sipUri === 'string' ? t.sipUri.trim() : '';
      if (!/^sips?:[^\s<>]+$/i.test(uri)) throw new Error(`dial: sipUri ${JSON.stringify(t.sipUri)} is not a sip: URI`);
      return { uri, headers, ...(auth ? { auth } : {}) };
    }
    case 'phone': {
      const number = typeof t.number === 'string' ? t.number.trim() : '';
      if (!/^\+?[0-9*#]{1,32}$/.test(number)) throw new Error(`dial: number ${JSON.stringify(t.number)} is not a phone number`);
      if (!host.phoneTrunk) throw new Error('dial: phone targets need a trunk (createEngine({ jambonzApp: { phoneTrunk: "host:port" } }))');
      return { uri: `sip:${number}@${host.phoneTrunk}`, headers, ...(auth ? { auth } : {}) };
    }
    default:
      throw new Error(`dial: target type ${JSON.stringify(t.type)} is not supported here (sip, phone)`);
  }
}

/** dtmfCapture: an array (both legs) or { parentCall, childCall }. */
function capturePatterns(v: unknown): { parent: string[]; child: string[] } {
  const strings = (x: unknown): string[] => (Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string' && s.length > 0) : []);
  if (Array.isArray(v)) return { parent: strings(v), child: strings(v) };
  const o = (v ?? {}) as { parentCall?: unknown; childCall?: unknown };
  return { parent: strings(o.parentCall), child: strings(o.childCall) };
}

/** Digits in, a pattern out when the digits so far end with one (then the buffer starts over). */
function collector(patterns: string[]): (digit: string) => string | undefined {
  const longest = Math.max(0, ...patterns.map((p) => p.length));
  let buf = '';
  return (digit) => {
    buf = (buf + digit).slice(-longest);
    const hit = patterns.find((p) => buf.endsWith(p));
    if (hit) buf = '';
    return hit;
  };
}

export async function dialVerb(host: VerbHost, verb: ExecVerb, signal: AbortSignal): Promise<VerbResult> {
  const list = Array.isArray(verb.target) ? (verb.target as Array<Record<string, unknown>>) : [];
  if (list.length < 1 || list.length > MAX_DIAL_TARGETS) throw new Error(`dial: ${list.length} targets: give 1 to ${MAX_DIAL_TARGETS}`);
  const targets = list.map((t) => resolveTarget(host, t));
  const a = host.call;
  const callerId = typeof verb.callerId === 'string' ? verb.callerId.trim() : undefined;
  if (callerId !== undefined && !/^[^\s@<>;:]+$/.test(callerId)) throw new Error(`dial: callerId ${JSON.stringify(verb.callerId)} is not a user part`);
  const verbHeaders = sipHeaders(verb.headers, 'verb');
  const optsFor = (target: DialTarget): OutboundCallOptions => {
    const headers = { ...verbHeaders, ...target.headers };
    return {
      // The callee sees the caller's From unless callerId replaces its user part.
      ...(callerId ? { from: `sip:${callerId}@${/@([^;>]+)/.exec(a.from ?? '')?.[1] ?? 'localhost'}` } : a.from ? { from: a.from } : {}),
      ...(typeof verb.callerName === 'string' ? { displayName: verb.callerName } : {}),
      ...(Object.keys(headers).length ? { headers } : {}),
      ...(target.auth ? { auth: target.auth } : {}),
    };
  };
  const answerOnBridge = verb.answerOnBridge === true && !a.isActive;
  if (!answerOnBridge) await host.ensureAnswered();
  if (signal.aborted) return {};
  const seconds = (v: unknown, dflt: number): number => (typeof v === 'number' && v > 0 ? Math.min(v * 1000, MAX_TIMER_MS) : dflt);
  const input: DialInput = { answerOnBridge, timeoutMs: seconds(verb.timeout, DEFAULT_TIMEOUT_S * 1000), timeLimitMs: seconds(verb.timeLimit, 0), targets: targets.length };
  const sids = targets.map(() => randomUuid());
  /** The leg whose end was reported last: its sid goes to the actionHook when none answered (dial.js keeps the last status change's). */
  let lastLeg = 0;
  const dtmfUrl = hookUrl(verb.dtmfHook);
  const patterns = capturePatterns(verb.dtmfCapture);
  const legs: Array<Call | undefined> = targets.map(() => undefined);
  let bridge: Bridge | undefined;
  let captured = false;
  let whisper: AbortController | undefined;
  const out = await new Promise<DialOutput>((resolve) => {
    let actor!: Actor<JambonzDialMachine>;
    const isDone = (): boolean => actor.getSnapshot().status !== 'active';
    const onCallerAnswered = (): void => actor.send({ type: 'CALLER.ANSWERED' });
    const onCallerEnded = (): void => actor.send({ type: 'CALLER.ENDED' });
    const kill = (): void => actor.send({ type: 'KILL' });
    const listeners: Array<() => void> = [];
    const capture = (call: Call, list: string[]): void => {
      if (!dtmfUrl || list.length === 0) return;
      const match = collector(list);
      const fn = (digit: string): void => {
        const hit = match(digit);
        if (hit) host.notifyHook(dtmfUrl, { dtmf: hit, ...host.hookData() });
      };
      call.on('dtmf', fn);
      listeners.push(() => call.off('dtmf', fn));
    };
    /** A leg the machine has let go of (cancelled, or another won) before its INVITE was even built. */
    const unwanted = (leg: number): boolean => {
      if (isDone()) return true;
      const c = actor.getSnapshot().context;
      return !c.live.includes(leg) && c.winner !== leg;
    };
    const attach = (call: Call, leg: number): void => {
      legs[leg] = call;
      let progressed = false;
      const sub = call.actor.subscribe((snap) => {
        if (!progressed && snap.context.progress !== undefined && !call.isActive) {
          progressed = true;
          actor.send({ type: 'B.PROGRESS', leg, code: snap.context.progress });
        }
      });
      listeners.push(() => sub.unsubscribe());
      call.once('answered', () => actor.send({ type: 'B.ANSWERED', leg }));
      call.once('ended', (end) => {
        lastLeg = leg;
        actor.send({ type: 'B.ENDED', leg, ...(call.answeredAt === undefined && end.code !== undefined ? { code: end.code } : {}) });
      });
    };
    actor = host.spawnDial(input, {
      placeCall: (which) => {
        for (const leg of which) {
          const target = targets[leg]!;
          host.placeCall(target.uri, optsFor(target)).then(
            (call) => {
              // Let go of while the INVITE was being built (killed, timed out, another leg won): it goes at once.
              if (unwanted(leg)) return call.hangup('dial over');
              attach(call, leg);
            },
            (err: unknown) => {
              host.logger.warn({ target: target.uri, err: err instanceof Error ? err.message : String(err) }, 'dial: cannot place the call');
              lastLeg = leg;
              actor.send({ type: 'B.FAILED', leg, error: err instanceof Error ? err.message : String(err) });
            },
          );
        }
      },
      ringCaller: () => {
        if (!a.isActive && !a.isEnded) a.progress(180);
      },
      answerCaller: () => a.answer(),
      bridge: (leg, muted) => {
        const b = legs[leg];
        if (!b || a.isEnded || b.isEnded) return;
        try {
          bridge = host.bridge(a, b);
          // The caller is the bridge's side a, B its side b.
          if (muted.caller) bridge.mute('a', true);
          if (muted.callee) bridge.mute('b', true);
        } catch (err) {
          host.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'dial: cannot bridge the calls: hanging up the dialled leg');
          b.hangup('cannot bridge');
        }
        // Bridged again after a whisper: the digit collectors are already on.
        if (captured) return;
        captured = true;
        capture(a, patterns.parent);
        capture(b, patterns.child);
      },
      mute: (party, muted) => bridge?.mute(party === 'caller' ? 'a' : 'b', muted),
      unbridge: () => {
        bridge?.stop();
        bridge = undefined;
      },
      startWhisper: (to, verbs) => {
        const w = new AbortController();
        whisper = w;
        const winner = actor.getSnapshot().context.winner;
        const target = to === 'callee' ? (winner === undefined ? undefined : legs[winner]) : a;
        void (async () => {
          for (const v of verbs) {
            if (w.signal.aborted || !target || target.isEnded) break;
            await whisperVerb(host, target, v as ExecVerb, w.signal);
          }
        })()
          .catch((err: unknown) => host.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'dial: whisper failed'))
          .finally(() => {
            if (whisper === w && !isDone()) actor.send({ type: 'WHISPER.DONE' });
          });
      },
      stopWhisper: () => whisper?.abort(),
      calleeSid: () => {
        const winner = actor.getSnapshot().context.winner;
        return winner === undefined ? undefined : sids[winner];
      },
      hangupB: (which) => {
        for (const leg of which) legs[leg]?.hangup('dial over');
      },
    });
    a.once('answered', onCallerAnswered);
    a.once('ended', onCallerEnded);
    signal.addEventListener('abort', kill, { once: true });
    actor.subscribe({
      complete: () => {
        a.off('answered', onCallerAnswered);
        a.off('ended', onCallerEnded);
        signal.removeEventListener('abort', kill);
        for (const off of listeners) off();
        bridge?.stop();
        resolve(actor.getSnapshot().output ?? { status: 'failed', sipStatus: 500, reason: 'killed' });
      },
    });
  });
  const dialCallSid = sids[out.winner ?? lastLeg]!;
  host.logger.info({ targets: targets.map((t) => t.uri), ...out, dialCallSid }, 'dial over');
  const url = hookUrl(verb.actionHook);
  if (!url || out.reason === 'killed' || out.reason === 'caller-gone') return {};
  return { hook: { type: 'verb:hook', url, data: { ...host.hookData(), dial_call_sid: dialCallSid, dial_call_status: out.status, dial_sip_status: out.sipStatus } } };
}
