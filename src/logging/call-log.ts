// The call lines a person reads at `info`: one per event that matters — offered (or dialling),
// answered (with the set-up time), ended (reason, SIP code, duration, RTP statistics and MOS).
// Every line comes from the call's own child logger, so it carries the call id, the SIP Call-ID
// (sipCallId), transport and direction.
import { logSourceOf, type Call } from '../call/call.js';
import type { CallEnd } from '../../machines/call.machine.js';
import type { CallMediaStats } from '../call/call.js';

export interface CallEndLine {
  reason: CallEnd['reason'];
  code?: number;
  detail?: string;
  /** From answer to end; 0 for a call never answered. */
  durationMs: number;
  /** From offer (or dial) to answer, when answered. */
  setupMs?: number;
  rtp?: { packetsSent: number; packetsReceived: number; lost: number; lossPercent: number; jitterMs: number; rttMs: number | null };
  mos?: number;
  /** The jitter buffer's toll, when the call's audio went through one. */
  jitterBuffer?: { concealed: number; late: number; targetMs: number };
}

const round = (n: number, places = 2): number => Math.round(n * 10 ** places) / 10 ** places;

function mediaSummary(s: CallMediaStats): Pick<CallEndLine, 'rtp' | 'mos' | 'jitterBuffer'> {
  const jb = s.jitterBuffer;
  const jitterBuffer = jb ? { jitterBuffer: { concealed: jb.concealed, late: jb.late, targetMs: jb.targetMs } } : {};
  if (s.kind !== 'rtp') return jitterBuffer;
  const r = s.receive;
  return {
    rtp: {
      packetsSent: s.packetsSent,
      packetsReceived: r.packetsReceived,
      lost: Math.max(0, r.cumulativeLost),
      lossPercent: round(r.lossPercent),
      jitterMs: round(r.jitterMs),
      rttMs: s.rttMs === null ? null : round(s.rttMs),
    },
    mos: round(s.mos),
    ...jitterBuffer,
  };
}

export function callEndLine(call: Call, end: CallEnd, now: number = Date.now()): CallEndLine {
  let stats: CallMediaStats | undefined;
  try {
    stats = call.stats();
  } catch {
    /* best effort: a line without RTP figures beats no line */
  }
  return {
    reason: end.reason,
    ...(end.code !== undefined ? { code: end.code } : {}),
    ...(end.detail !== undefined ? { detail: end.detail } : {}),
    durationMs: call.answeredAt !== undefined ? now - call.answeredAt : 0,
    ...(call.answeredAt !== undefined ? { setupMs: call.answeredAt - call.createdAt } : {}),
    ...(stats ? mediaSummary(stats) : {}),
  };
}

/**
 * The call lines, called by the call manager (when info is enabled): offered when the call is
 * created, answered and ended from the manager's hooks before the app's listeners run. They carry
 * the call's ids as its child logger's would, without making that logger (a pino child per live
 * call is ~1 KB held for the call's life), and a call holds no listener for them.
 */
export function logCallOffered(call: Call): void {
  logSourceOf(call).info({ from: call.from, to: call.to }, call.direction === 'inbound' ? 'call offered' : 'call dialling');
}

export function logCallAnswered(call: Call): void {
  logSourceOf(call).info({ setupMs: (call.answeredAt ?? Date.now()) - call.createdAt }, 'call answered');
}

export function logCallEnded(call: Call, end: CallEnd): void {
  logSourceOf(call).info(callEndLine(call, end), 'call ended');
}
