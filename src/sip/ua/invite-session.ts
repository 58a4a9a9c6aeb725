// The INVITE session machine's effects (machines/sipInviteSession.machine.ts), provided once per
// user agent: each action looks its leg up by the actor's id and acts on the wire. The machine
// decides when a CANCEL, a BYE, a re-INVITE or a retransmitted 2xx goes; this only sends them.
import type { AnyStateMachine, Snapshot } from 'xstate';
import { memoizeTransitions } from '../../actors/memo-transitions.js';
import {
  sipInviteSessionMachine,
  type SipHoldDirection,
  type SipInviteSessionInput,
  type SipSessionTimer,
} from '../../../machines/sipInviteSession.machine.js';
import type { SipLeg } from './legs.js';
import { sendReinviteNow } from './in-dialog.js';
import { updatesDone } from './reoffer.js';
import { retryWithAuth, sendCancel, sendInvite } from './uac-invite.js';
import { glareDelayMs } from './session-timer.js';
import type { SipUserAgent } from './user-agent.js';

export type InviteSessionLogic = ReturnType<typeof provideInviteSession>;

export function inviteSessionId(callId: string): string {
  return `ses-${callId}`;
}

/**
 * The session machine's initial snapshot, computed by the machine once per input and restored into
 * every new actor of that input. Entering six parallel regions and running their eventless
 * transitions costs several times a dialog's whole start, once per call; restoring the finished
 * result costs a fraction. Equal to starting afresh because the machine is pure (its initial
 * snapshot depends on the input alone) and its initial step has no effects: that is checked here per
 * input (a machine whose start does something gets no cached snapshot, and starts normally), and
 * test/model/sip-invite-session.test.ts drives every model path from both starts.
 */
export function initialSessionSnapshots(logic: AnyStateMachine): (input: SipInviteSessionInput) => Snapshot<unknown> | undefined {
  return memoizedSessions(logic).start;
}

/**
 * The session logic the UA runs: the machine with its payload-free transitions remembered from
 * the shared start (src/actors/memo-transitions.ts). Every call's session sees the same few
 * snapshots (its context is the input's), so RINGING, 2XX.SENT, OFFER.END, ACK.RECEIVED … are
 * the machine's own answers computed once per UA; events with a payload (REINVITE, ACK.TIMER,
 * REMOTE.OFFER …) and what follows them run the machine as usual.
 */
export function memoizedSessions<M extends AnyStateMachine>(logic: M): { logic: M; start: (input: SipInviteSessionInput) => Snapshot<unknown> | undefined } {
  const memo = memoizeTransitions(logic);
  return {
    logic: memo.logic,
    start: (input) => memo.start(input, JSON.stringify([input.role, input.t1, input.t2, input.unconfirmedLimit, input.heldByRemote ?? false]))?.persisted,
  };
}

export function provideInviteSession(ua: SipUserAgent, legOf: (actorId: string) => SipLeg | undefined) {
  const on = (f: (leg: SipLeg) => void) => ({ self }: { self: { id: string } }) => {
    const leg = legOf(self.id);
    if (leg) f(leg);
  };
  return sipInviteSessionMachine.provide({
    actions: {
      sendRinging: on((leg) => leg.sendRinging()),
      sendAnswer: ({ self }, p: { sdp: boolean }) => legOf(self.id)?.sendAnswerNow(p.sdp),
      dialogEarly: on((leg) => leg.dialogEarly()),
      sendInvite: on((leg) => sendInvite(ua, leg)),
      retryWithAuth: on((leg) => retryWithAuth(ua, leg)),
      sendCancel: on((leg) => sendCancel(ua, leg)),
      notifyProgress: ({ self }, p: { status: number }) => {
        // A 100 only lets the CANCEL go; the call hears of real progress (18x).
        if (p.status > 100) legOf(self.id)?.call.actor.send({ type: 'CALL.PROGRESS', code: p.status });
      },
      notifyAnswered: on((leg) => leg.call.actor.send({ type: 'CALL.ANSWERED' })),
      notifyFailed: ({ self }, p: { status?: number; reason: string }) => legOf(self.id)?.call.actor.send({ type: 'CALL.FAILED', code: p.status, reason: p.reason }),
      notifyRejected: ({ self }, p: { status: number; reason?: string; contacts?: string[] }) => {
        const call = legOf(self.id)?.call;
        if (!call) return;
        if (p.status >= 300 && p.status < 400) call.actor.send({ type: 'CALL.REDIRECT', code: p.status, contacts: p.contacts ?? [] });
        else call.actor.send({ type: 'CALL.REJECTED', code: p.status, reason: p.reason });
      },
      retransmit2xx: on((leg) => {
        if (!leg.last2xx) return;
        ua.stats.retransmitted2xx++;
        ua.transport.sendBytes(leg.last2xx.bytes, leg.last2xx.to);
      }),
      ackTimedOut: ({ self }, p: { confirmed: boolean }) => {
        const leg = legOf(self.id);
        if (leg) ackTimedOut(ua, leg, p.confirmed);
      },
      sendReinvite: ({ self }, p: { direction: SipHoldDirection; update?: number }) => {
        const leg = legOf(self.id);
        if (leg) sendReinviteNow(leg, p.direction, p.update);
      },
      updateDone: ({ self }, p: { ids: readonly number[]; status: number }) => {
        const leg = p.ids.length > 0 ? legOf(self.id) : undefined;
        if (leg) updatesDone(leg, p.ids, p.status);
      },
      sendBye: on((leg) => leg.dialog.send({ type: 'REQUEST.SEND', method: 'BYE' })),
      notifyRemoteHold: on((leg) => leg.call.actor.send({ type: 'CALL.HOLD', by: 'remote' })),
      notifyRemoteResume: on((leg) => leg.call.actor.send({ type: 'CALL.RESUME' })),
      startTimer: ({ self }, p: { timer: SipSessionTimer; ms?: number }) => {
        const leg = legOf(self.id);
        if (!leg) return;
        clearTimeout(leg.timers[p.timer]);
        // The glare wait is random per §14.1 unless a 500's Retry-After named it.
        const ms = p.timer === 'glare' ? (p.ms ?? glareDelayMs(leg.role)) : (p.ms ?? ua.timers.t1);
        leg.timers[p.timer] = setTimeout(() => {
          leg.timers[p.timer] = undefined;
          // Whether the peer proved it receives us is asked when the timer fires, not when armed.
          leg.session.send(p.timer === 'ack2xx' ? { type: 'ACK.TIMER', confirmed: leg.peerConfirmed() } : { type: 'GLARE.TIMER' });
        }, ms);
      },
      stopTimer: ({ self }, p: { timer: SipSessionTimer }) => {
        const leg = legOf(self.id);
        if (!leg) return;
        clearTimeout(leg.timers[p.timer]);
        leg.timers[p.timer] = undefined;
      },
    },
  });
}

/** The ACK for our 2xx never came (the machine gave up waiting). */
function ackTimedOut(ua: SipUserAgent, leg: SipLeg, confirmed: boolean): void {
  ua.stats.unacknowledged2xx++;
  ua.pendingInvites.settle(leg);
  if (confirmed) {
    // §13.3.1.4: the session ends with a BYE: the machine sends one a hangup already queued, and
    // the call's hangup asks for one otherwise.
    leg.log.warn('no ACK for 2xx: ending the call with BYE');
    if (!leg.call.isEnded) leg.call.actor.send({ type: 'CALL.HANGUP', detail: 'no ACK received' });
    return;
  }
  // Nothing shows the peer receives what we send: a BYE (and its 10 retransmissions) would go
  // to an address it may have spoofed. The dialog just ends here (the machine withholds the BYE).
  leg.log.warn('no ACK for 2xx from a peer that never confirmed its address: ending the call without BYE');
  ua.stats.byesWithheld++;
  if (!leg.call.isEnded) leg.call.actor.send({ type: 'CALL.FAILED', code: 408, reason: 'no ACK received' });
  if (leg.dialog.getSnapshot().matches('live')) leg.dialog.send({ type: 'DIALOG.TERMINATE', reason: 'no ACK received' });
}
