// Session timers (RFC 4028) on the wire: Session-Expires and Min-SE read and written, the
// negotiation rules of §7 (UAC) and §9 (UAS), and the effects of the session timer machine
// (machines/sipSessionTimer.machine.ts), which holds who refreshes, the interval and the clocks.
// A leg gets a timer actor only when a session timer is asked for or agreed: calls without one
// cost nothing more.
import { sipSessionTimerMachine, type SessionRefresher, type SessionRefreshMethod } from '../../../machines/sipSessionTimer.machine.js';
import { parseDeltaSeconds, parseGenericParams, tokenList } from '../codec/headers.js';
import type { HeaderList } from '../codec/header-list.js';
import type { SipLeg } from './legs.js';
import type { SipUserAgent } from './user-agent.js';

/** RFC 4028 §4: Min-SE may not be configured below 90 s (anything lower is for tests only). */
export const RFC4028_MIN_SE = 90;

/** Session timer configuration (`sip.sessionTimers`), resolved. */
export interface SessionTimerConfig {
  /** Session-Expires we ask for in our INVITEs and insert as UAS when the caller asked none (s); undefined: neither. */
  expires: number | undefined;
  /** Our Min-SE (s): a smaller Session-Expires gets 422. */
  minSE: number;
}

/** `sip.sessionTimers` as the user gives it. */
export interface SipSessionTimerOptions {
  /**
   * Session-Expires (seconds) we ask for in the INVITEs we send, and put in our 2xx when an INVITE
   * asked for none. Default: none (callchart then refreshes only when the caller asks for it).
   */
  expires?: number;
  /**
   * Our Min-SE (seconds, default 90, the RFC 4028 floor): an INVITE with a smaller Session-Expires
   * gets 422. Values below 90 are for tests only (short intervals that run in seconds).
   */
  minSE?: number;
}

/** Validate `sip.sessionTimers` (false: no session timers at all, not even `Supported: timer`). */
export function sessionTimerConfig(o: SipSessionTimerOptions | false | undefined): SessionTimerConfig | undefined {
  if (o === false) return undefined;
  const minSE = o?.minSE ?? RFC4028_MIN_SE;
  if (!Number.isInteger(minSE) || minSE < 1) throw new Error(`sip.sessionTimers.minSE must be a whole number of seconds ≥ 1, got ${String(o?.minSE)}`);
  const expires = o?.expires;
  if (expires !== undefined && (!Number.isInteger(expires) || expires < minSE)) {
    throw new Error(`sip.sessionTimers.expires must be a whole number of seconds ≥ minSE (${minSE}), got ${String(expires)}`);
  }
  return { expires, minSE };
}

export interface SessionExpires {
  interval: number;
  refresher?: 'uac' | 'uas';
}

/** Session-Expires = delta-seconds *(SEMI se-params), se-params: refresher=uac|uas (§4). */
export function parseSessionExpires(value: string | undefined): SessionExpires | undefined {
  if (value === undefined) return undefined;
  const semi = value.indexOf(';');
  const interval = parseDeltaSeconds(semi < 0 ? value : value.slice(0, semi));
  if (interval === undefined || interval < 1) return undefined;
  const params = semi < 0 ? undefined : parseGenericParams(value, semi);
  if (semi >= 0 && !params) return undefined;
  const r = params?.get('refresher')?.toLowerCase();
  return { interval, ...(r === 'uac' || r === 'uas' ? { refresher: r } : {}) };
}

/** Min-SE = delta-seconds *(SEMI generic-param) (§5). */
export function parseMinSE(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const semi = value.indexOf(';');
  return parseDeltaSeconds(semi < 0 ? value : value.slice(0, semi));
}

const supportsTimer = (h: HeaderList) => tokenList(h, 'Supported').some((t) => t.toLowerCase() === 'timer') || tokenList(h, 'Require').some((t) => t.toLowerCase() === 'timer');

/** Whether the message's Allow names UPDATE; undefined when it has no Allow. */
function allowsUpdate(h: HeaderList): boolean | undefined {
  const allow = tokenList(h, 'Allow');
  return allow.length ? allow.some((m) => m.toUpperCase() === 'UPDATE') : undefined;
}

/** What a UAS does with a session refresh request (§9): refuse it, or what its 2xx says. */
export type UasSessionTimer =
  | { kind: 'none' }
  | { kind: 'too-brief'; minSE: number }
  | { kind: 'agree'; interval: number; refresher: 'uac' | 'uas'; require: boolean };

/** §9: the request's Session-Expires honoured (422 below our Min-SE), or ours when configured. */
export function negotiateUas(cfg: SessionTimerConfig, h: HeaderList): UasSessionTimer {
  const raw = h.get('Session-Expires');
  // The common INVITE (no timer asked, none configured) costs one header lookup.
  if (raw === undefined && cfg.expires === undefined) return { kind: 'none' };
  const se = parseSessionExpires(raw);
  const supported = supportsTimer(h);
  if (se) {
    if (se.interval < cfg.minSE) return { kind: 'too-brief', minSE: cfg.minSE };
    // An absent refresher is ours to pick: the UAC when it can refresh, else us.
    return { kind: 'agree', interval: se.interval, refresher: se.refresher ?? (supported ? 'uac' : 'uas'), require: supported };
  }
  if (cfg.expires === undefined) return { kind: 'none' };
  // The caller asked for none: we insert ours and refresh ourselves (it may not know how).
  const interval = Math.max(cfg.expires, parseMinSE(h.get('Min-SE')) ?? 0);
  return { kind: 'agree', interval, refresher: 'uas', require: supported };
}

/** The headers of our 2xx to a session refresh request. */
export function uasHeaders(t: UasSessionTimer): Array<readonly [string, string]> {
  if (t.kind !== 'agree') return [];
  return [['Session-Expires', `${t.interval};refresher=${t.refresher}`], ...(t.require ? [['Require', 'timer'] as const] : [])];
}

type Timer = NonNullable<SipLeg['timer']>;

export function sessionTimerId(callId: string): string {
  return `sst-${callId}`;
}

/** The leg's timer actor, spawned on first need. */
export function timerOf(ua: SipUserAgent, leg: SipLeg): Timer | undefined {
  const cfg = ua.sessionTimers;
  if (!cfg) return undefined;
  leg.timer ??= ua.spawnSessionTimer(leg, cfg.minSE);
  return leg.timer;
}

/** We sent a 2xx to a session refresh request (the INVITE, a re-INVITE, an UPDATE) whose headers `t` gave. */
export function uasAnswered(ua: SipUserAgent, leg: SipLeg, t: UasSessionTimer, request: HeaderList): void {
  if (t.kind === 'agree') {
    const timer = timerOf(ua, leg);
    const useUpdate = allowsUpdate(request) ?? timer?.getSnapshot().context.useUpdate ?? false;
    timer?.send({ type: 'AGREE', interval: t.interval, refresher: t.refresher === 'uas' ? 'local' : 'remote', useUpdate });
  } else leg.timer?.send({ type: 'DISARM' });
}

/** A 2xx to our INVITE, re-INVITE or UPDATE (§7.2): its Session-Expires sets the timer, its absence turns it off. */
export function uacAnswered(ua: SipUserAgent, leg: SipLeg, response: HeaderList): void {
  const se = parseSessionExpires(response.get('Session-Expires'));
  if (!se) {
    leg.timer?.send({ type: 'DISARM' });
    return;
  }
  const timer = timerOf(ua, leg);
  if (!timer) return;
  const useUpdate = allowsUpdate(response) ?? timer.getSnapshot().context.useUpdate;
  // A 2xx that names no refresher leaves it to us (we can refresh; the peer may not).
  const refresher: SessionRefresher = (se.refresher ?? 'uac') === 'uac' ? 'local' : 'remote';
  timer.send({ type: 'AGREE', interval: se.interval, refresher, useUpdate });
}

/** The headers of a session refresh request we send (§7.1, §7.4): our INVITE, a re-INVITE, an UPDATE. */
export function uacHeaders(ua: SipUserAgent, leg: SipLeg): Array<readonly [string, string]> {
  const cfg = ua.sessionTimers;
  if (!cfg) return [];
  const t = leg.timer?.getSnapshot();
  const supported = ['Supported', 'timer'] as const;
  if (!t || !(t.matches('running') || t.matches('offering'))) return [supported];
  const { interval, refresher, minSE } = t.context;
  // Whoever refreshes now stays the refresher: we are this request's UAC.
  return offerHeaders(interval, minSE, t.matches('offering') || refresher === 'local' ? 'uac' : 'uas');
}

/** Supported, Session-Expires and Min-SE of a session refresh request. */
export function offerHeaders(interval: number, minSE: number, refresher: 'uac' | 'uas'): Array<readonly [string, string]> {
  return [['Supported', 'timer'], ['Session-Expires', `${interval};refresher=${refresher}`], ['Min-SE', String(minSE)]];
}

/** UAC: our INVITE asks for a Session-Expires when configured to (the machine starts offering). */
export function offerOnInvite(ua: SipUserAgent, leg: SipLeg): void {
  const cfg = ua.sessionTimers;
  if (cfg?.expires !== undefined) timerOf(ua, leg)?.send({ type: 'OFFER', interval: cfg.expires });
}

/**
 * §14.1 glare: after a 491 the owner of the Call-ID (the side that placed the call) waits 2.1 to
 * 4 s, the other side 0 to 2 s, in units of 10 ms, before it tries its request again.
 */
export function glareDelayMs(role: 'uac' | 'uas'): number {
  return role === 'uac' ? 2100 + Math.floor(Math.random() * 191) * 10 : Math.floor(Math.random() * 201) * 10;
}

/** What the leg's UA does for the timer machine's actions. */
export interface SessionTimerEffects {
  resendInvite(leg: SipLeg, interval: number, minSE: number): void;
  sendRefresh(leg: SipLeg, method: SessionRefreshMethod): void;
}

export function provideSessionTimer(ua: SipUserAgent, legOf: (actorId: string) => SipLeg | undefined, fx: SessionTimerEffects) {
  return sipSessionTimerMachine.provide({
    actions: {
      resendInvite: ({ self }, p) => {
        const leg = legOf(self.id);
        if (leg) fx.resendInvite(leg, p.interval, p.minSE);
      },
      sendRefresh: ({ self }, p) => {
        const leg = legOf(self.id);
        if (!leg) return;
        ua.stats.sessionRefreshesSent++;
        leg.log.debug({ method: p.method, interval: p.interval }, 'session refresh');
        fx.sendRefresh(leg, p.method);
      },
      expire: ({ self }, p) => {
        const leg = legOf(self.id);
        if (!leg) return;
        ua.stats.sessionTimersExpired++;
        leg.log.warn({ interval: p.interval }, 'session timer expired (no refresh): ending the call with BYE');
        if (!leg.call.isEnded) leg.call.actor.send({ type: 'CALL.HANGUP', detail: 'session timer expired' });
      },
    },
    delays: { glare: ({ context }) => glareDelayMs(context.role) },
  });
}
