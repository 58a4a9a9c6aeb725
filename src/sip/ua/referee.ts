// A REFER we received (RFC 3515): checked here, decided by the app (the call's `refer` event),
// run by the sipReferee machine (machines/sipReferee.machine.ts), one actor per REFER. Without a
// `refer` listener the REFER is declined (603), as before: being transferred makes us call a
// third party, which only the app may allow.
import type { Call } from '../../call/call.js';
import { ActorRegistry } from '../../actors/registry.js';
import { sipRefereeMachine, type SipRefereeEvent } from '../../../machines/sipReferee.machine.js';
import { parseNameAddr } from '../codec/headers.js';
import { formatUri } from '../codec/uri.js';
import type { ServerTransaction } from '../transactions/layer.js';
import type { SipLeg } from './legs.js';
import type { OutboundCallOptions } from './options.js';
import type { SipUserAgent } from './user-agent.js';

/** How long the app has to accept or refuse a transfer before it is declined (603). */
export const REFER_DECISION_MS = 8000;

/**
 * The far end of a call asks us to call `target` instead (SIP REFER, RFC 3515): the `refer` event
 * of the call. Accept to place that call (the referrer hears its progress); refuse, or let
 * `REFER_DECISION_MS` pass, to decline.
 */
export interface ReferRequest {
  /** The Refer-To URI (a sip: or sips: URI). */
  readonly target: string;
  /** The Referred-By header, when the referrer sent one. */
  readonly referredBy?: string;
  /**
   * Place the call to the target (the REFER is answered 202). Resolves with the new outbound call;
   * what to do with it (bridge it, hang up the referring call) is the app's. Rejects when the
   * request was already decided or the call cannot be placed.
   */
  accept(options?: OutboundCallOptions): Promise<Call>;
  /** Refuse the transfer (default 603 Decline). */
  reject(status?: number, reason?: string): void;
}

interface RefereeWire {
  leg: SipLeg;
  tx: ServerTransaction;
  target: string;
  options: OutboundCallOptions;
  timer: NodeJS.Timeout | undefined;
  placed: (result: Call | Error) => void;
}

export type RefereeRegistry = ActorRegistry<typeof sipRefereeMachine, RefereeWire>;

export function refereeRegistry(ua: SipUserAgent): RefereeRegistry {
  return new ActorRegistry(ua.opts.supervisor, (wireOf) =>
    sipRefereeMachine.provide({
      actions: {
        respond: ({ self }, p: { status: number; reason?: string }) => wireOf(self.id)?.tx.reply(p.status, p.reason),
        notify: ({ self }, p: { status: number; final: boolean }) => {
          const w = wireOf(self.id);
          if (w) sendNotify(w.leg, p.status, p.final);
        },
        dial: ({ self }) => {
          const w = wireOf(self.id);
          if (w) dial(ua, self, w);
        },
        startTimer: ({ self }) => {
          const w = wireOf(self.id);
          if (w) w.timer = setTimeout(() => self.send({ type: 'DECISION.TIMER' }), REFER_DECISION_MS);
        },
        stopTimer: ({ self }) => {
          const w = wireOf(self.id);
          if (w) clearTimeout(w.timer);
        },
      },
    }),
  );
}

/** The dialog accepted a REFER (its CSeq is in order): check it and ask the app. */
export function onRefer(ua: SipUserAgent, leg: SipLeg, tx: ServerTransaction): void {
  const req = tx.request;
  const referTo = req.headers.getAll('Refer-To');
  // §2.4.1: exactly one Refer-To; we act only on SIP URIs (no method other than INVITE).
  if (referTo.length !== 1) {
    tx.reply(400, referTo.length === 0 ? 'Missing Refer-To' : 'More Than One Refer-To');
    return;
  }
  const na = parseNameAddr(referTo[0]!);
  const uri = na?.uri;
  if (!uri || uri.kind !== 'sip') {
    tx.reply(400, 'Bad Refer-To (a sip: or sips: URI is needed)');
    return;
  }
  const method = uri.params.get('method');
  if (method !== undefined && method !== null && method.toUpperCase() !== 'INVITE') {
    tx.reply(501, 'Not Implemented (Refer-To method)');
    return;
  }
  const call = leg.call;
  if (call.listenerCount('refer') === 0 || !call.isActive) {
    tx.reply(603, 'Decline');
    return;
  }
  // Headers embedded in the URI (?Replaces=…) are not acted on: the target is called plainly.
  const target = formatUri({ ...uri, headers: new Map() });
  const id = `refer-${leg.callId}-${req.headers.parsedFirst('CSeq', (v) => v.trim().split(/\s+/)[0])}`;
  let placed!: (result: Call | Error) => void;
  const result = new Promise<Call>((resolve, reject) => {
    placed = (r) => (r instanceof Error ? reject(r) : resolve(r));
  });
  result.catch(() => {}); // an app that never accepts never reads it
  const wire: RefereeWire = { leg, tx, target, options: {}, timer: undefined, placed };
  let actor;
  try {
    actor = ua.referees.spawn(wire, { kind: 'sip-refer', id, input: { target }, bindings: { sipCallId: leg.callId } }).ref;
  } catch (err) {
    leg.log.warn({ err }, 'cannot take the REFER');
    tx.reply(503, 'Service Unavailable');
    return;
  }
  const send = (e: SipRefereeEvent) => actor.send(e);
  const deciding = () => actor.getSnapshot().matches('deciding');
  call.once('ended', () => send({ type: 'DIALOG.ENDED' }));
  const referredBy = req.headers.get('Referred-By');
  const request: ReferRequest = {
    target,
    ...(referredBy ? { referredBy } : {}),
    accept(options = {}) {
      if (!deciding()) return Promise.reject(new Error('this transfer request was already decided'));
      wire.options = options;
      send({ type: 'ACCEPT' });
      return result;
    },
    reject(status = 603, reason) {
      if (!deciding()) return;
      const code = status >= 400 && status <= 699 ? status : 603;
      send({ type: 'REJECT', status: code, ...(reason ? { reason } : {}) });
    },
  };
  leg.log.info({ target }, 'transfer requested (REFER)');
  call.emit('refer', request);
}

/** The machine's `dial`: place the call and feed its progress back to the machine. */
function dial(ua: SipUserAgent, self: { send(e: SipRefereeEvent): void }, w: RefereeWire): void {
  ua.call(w.target, w.options).then(
    (call) => {
      w.placed(call);
      let progress: number | undefined;
      const sub = call.actor.subscribe((snap) => {
        const p = (snap.context as { progress?: number }).progress;
        if (p !== undefined && p !== progress && p > 100 && p < 200) {
          progress = p;
          self.send({ type: 'TARGET.PROGRESS', status: p });
        }
      });
      call.once('answered', () => self.send({ type: 'TARGET.ANSWERED' }));
      call.once('ended', (end) => {
        sub.unsubscribe();
        self.send({ type: 'TARGET.FAILED', status: end.code !== undefined && end.code >= 300 ? end.code : 487 });
      });
    },
    (err: unknown) => {
      w.placed(err instanceof Error ? err : new Error(String(err)));
      w.leg.log.warn({ err, target: w.target }, 'transfer target could not be called');
      self.send({ type: 'TARGET.FAILED', status: 503 });
    },
  );
}

const STATUS_TEXT: Record<number, string> = { 100: 'Trying', 180: 'Ringing', 183: 'Session Progress', 200: 'OK', 486: 'Busy Here', 487: 'Request Terminated', 503: 'Service Unavailable' };

/** One NOTIFY of the implicit `refer` subscription (§2.4.4, §2.4.5). */
function sendNotify(leg: SipLeg, status: number, final: boolean): void {
  leg.dialog.send({
    type: 'REQUEST.SEND',
    method: 'NOTIFY',
    body: `SIP/2.0 ${status} ${STATUS_TEXT[status] ?? (status < 300 ? 'OK' : 'Failed')}\r\n`,
    contentType: 'message/sipfrag;version=2.0',
    headers: [
      ['Event', 'refer'],
      ['Subscription-State', final ? 'terminated;reason=noresource' : 'active;expires=60'],
    ],
  });
}
