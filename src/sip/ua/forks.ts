// The branches of an INVITE we sent (RFC 3261 §12.1.2, §13.2.2.4): the effects of the
// sipInviteForks machine (machines/sipInviteForks.machine.ts), which holds which early dialogs
// exist, which branch won and which were answered too late, and each early dialog's answer. A
// proxy that forks our INVITE can bring 1xx from several To tags and more than one 2xx; the app
// sees one call, the winner's. The call's one RTP session goes where the machine says
// (`mediaFollows`): the answer of the branch it follows, then the winner's. A winning 2xx with no
// acceptable answer, in it or its early dialog, makes no call (`abandon`: ACK, BYE, the call fails).
// A branch whose reliable 18x brings an answer we refuse gets a BYE in its early dialog once that
// 18x is PRACKed (`REFUSED` → `byeEarly`, RFC 3261 §15); with every branch refused, the INVITE's
// final response fails the call for that (`refuseCall`: 488, why).
import { createActor } from 'xstate';
import { sipDialogMachine, type SipDialogInput, type SipDialogRequestParams } from '../../../machines/sipDialog.machine.js';
import { sipInviteForksMachine } from '../../../machines/sipInviteForks.machine.js';
import { allowSet, contactUriOf, parseCSeq, parseNameAddr } from '../codec/headers.js';
import type { SipResponse } from '../codec/message.js';
import { inDialogRequest, sendAck2xx } from './in-dialog.js';
import type { SipLeg } from './legs.js';
import { isHoldOffer, parseRemote } from '../codec/sdp.js';
import { applyRemoteSdp, inviteAnswerRefusal } from './media-binding.js';
import { reliableAnswer } from './prack.js';
import { uacAnswered } from './session-timer.js';
import type { SipUserAgent } from './user-agent.js';

export type InviteForksLogic = ReturnType<typeof provideInviteForks>;

const FORKS_PREFIX = 'frk-';

export function inviteForksId(callId: string): string {
  return `${FORKS_PREFIX}${callId}`;
}

/** The Call-ID of a branches actor's id (the inverse of inviteForksId). */
export function callIdOfInviteForks(actorId: string): string {
  return actorId.slice(FORKS_PREFIX.length);
}

/** The dialog-forming headers of a response: To tag, Contact, Record-Route. */
function establishment(res: SipResponse) {
  const contact = res.headers.get('Contact');
  return {
    remoteTag: res.headers.parsedFirst('To', parseNameAddr)?.tag ?? '',
    remoteTarget: contact ? contactUriOf(contact) : undefined,
    recordRoute: res.headers.getAll('Record-Route'),
  };
}

/** A branch's answer to our offer that we refused: its To tag, and why. */
export interface BranchRefusal {
  tag: string;
  reason: string;
}

/**
 * A response with a To tag (1xx, 2xx) or a non-2xx final, for the leg's branches machine. Its
 * actor is spawned with the first such response: a call that never got one costs none. A 1xx
 * whose answer (its branch's first) we refuse is returned: the caller tells the machine
 * (`onBranchRefused`) once the 1xx is PRACKed, so the BYE follows the PRACK in that early dialog.
 */
export function onBranchResponse(ua: SipUserAgent, leg: SipLeg, res: SipResponse): BranchRefusal | undefined {
  // (Never for a leg already forgotten: nothing would stop the actor.)
  if (!leg.forks && ua.legs.byCall(leg.callId) === leg) leg.forks = ua.spawnInviteForks(leg);
  const forks = leg.forks?.getSnapshot().status === 'active' ? leg.forks : undefined;
  const tag = res.headers.parsedFirst('To', parseNameAddr)?.tag ?? '';
  if (!forks) {
    // The leg was forgotten (its call over): a 2xx still gets its ACK, nothing more.
    if (res.status >= 200 && res.status < 300) sendAck2xx(ua, leg, res);
    return undefined;
  }
  if (res.status >= 300) forks.send({ type: 'FAILED', status: res.status });
  else if (res.status >= 200) {
    // (A 2xx's refused SDP is told of by `abandon`, when the machine finds no answer elsewhere.)
    const { answer } = asAnswer(ua, leg, res.body.length ? res.body.toString('utf8') : undefined);
    forks.send({ type: 'ANSWER', tag, response: res, ...(answer !== undefined ? { answer } : {}) });
  } else if (tag) {
    // (Only a branch's first answer counts, §13.2.1: a later SDP in its 1xx is none to refuse.)
    const answered = branchAnswered(leg, res);
    const sdp = reliableAnswer(ua, res);
    const { answer, refusal } = asAnswer(ua, leg, sdp);
    forks.send({ type: 'PROVISIONAL', tag, response: res, ...(answer !== undefined ? { answer } : {}) });
    // An SDP that is no session description is no answer at all (its next reliable 18x may bring
    // one); a well-formed one refused is the branch's answer, which it cannot take back (§13.2.1).
    if (refusal !== undefined && !answered && sdp !== undefined && parseRemote(sdp).ok) {
      leg.log.warn({ tag, reason: refusal }, 'a branch\'s early answer is not acceptable: its early dialog is ended with a BYE');
      return { tag, reason: refusal };
    }
    if (refusal !== undefined) leg.log.warn({ tag, reason: refusal }, 'a branch\'s early SDP is no answer: not taken, no media to that branch');
  }
  return undefined;
}

/** The refused answer of a 1xx just handled (and PRACKed): the machine ends that early dialog. */
export function onBranchRefused(leg: SipLeg, r: BranchRefusal): void {
  if (leg.forks?.getSnapshot().status === 'active') leg.forks.send({ type: 'REFUSED', tag: r.tag, reason: r.reason });
}

/** Whether this 1xx is of a branch whose early dialog we ended (refused): no news, not even PRACKed. */
export function branchRefused(leg: SipLeg, res: SipResponse): boolean {
  const tag = res.headers.parsedFirst('To', parseNameAddr)?.tag;
  const f = leg.forks?.getSnapshot();
  return tag !== undefined && f?.status === 'active' && f.value === 'calling' && f.context.refused.some((r) => r.tag === tag);
}

/** Whether the branches machine failed the call for refused answers (`refuseCall`): its final response is told of. */
export function callRefused(leg: SipLeg): boolean {
  return leg.forks?.getSnapshot().context.refusal !== undefined;
}

/**
 * An SDP as the answer to our offer, or why it cannot be one (unparsable; none of our codecs;
 * with SRTP, none of our a=crypto picked). A refused one is no branch's answer: media never goes there (an SRTP-required
 * call never in the clear), and a forked call goes on with its other branches.
 */
function asAnswer(ua: SipUserAgent, leg: SipLeg, sdp: string | undefined): { answer?: string; refusal?: string } {
  if (sdp === undefined) return {};
  const refusal = inviteAnswerRefusal(ua, leg, sdp);
  return refusal === undefined ? { answer: sdp } : { refusal };
}

/** Whether the early dialog of this 1xx's branch already has the answer to our offer. */
export function branchAnswered(leg: SipLeg, res: SipResponse): boolean {
  const tag = res.headers.parsedFirst('To', parseNameAddr)?.tag;
  return tag !== undefined && leg.forks?.getSnapshot().context.answers.some((a) => a.tag === tag) === true;
}

/** The INVITE went out again as a new transaction: a branches machine that saw it fail starts over. */
export function onInviteReissued(leg: SipLeg): void {
  if (leg.forks?.getSnapshot().status === 'active') leg.forks.send({ type: 'REISSUED' });
}

/**
 * The requests of a losing branch's dialog (§13.2.2.4: "a new dialog in the confirmed state MUST
 * be constructed"), computed by a dialog machine of its own: built from its 2xx, with the
 * INVITE's CSeq, and dropped once it has said what to send. `dialog`: our side of the INVITE
 * (the leg's, or for a 2xx to an INVITE already forgotten, what the 2xx echoes: stray-2xx.ts).
 */
export function lateDialogRequest(
  dialog: Pick<SipDialogInput, 'callId' | 'localTag' | 'localUri' | 'remoteUri' | 'secure'>,
  res: SipResponse,
  method: 'ACK' | 'BYE',
): SipDialogRequestParams | undefined {
  const cseq = res.headers.parsedFirst('CSeq', parseCSeq)?.seq;
  if (cseq === undefined) return undefined;
  let out: SipDialogRequestParams | undefined;
  const actor = createActor(sipDialogMachine.provide({ actions: { sendRequest: (_, p) => void (out = p) } }), {
    input: { role: 'uac', ...dialog, localCSeq: cseq },
  });
  actor.start();
  actor.send({ type: 'DIALOG.CONFIRMED', ...establishment(res) });
  actor.send(method === 'ACK' ? { type: 'REQUEST.SEND', method, cseq } : { type: 'REQUEST.SEND', method });
  actor.stop();
  return out;
}

/** Our side of the leg's INVITE, for lateDialogRequest. */
function legDialog(leg: SipLeg) {
  const d = leg.dialogState;
  return { callId: leg.callId, localTag: leg.localTag, localUri: d.localUri, remoteUri: d.remoteUri, secure: d.secure };
}

/**
 * The 2xx that won: the call's dialog is confirmed with it, ACKed, and its answer taken.
 * `peerOffer`: the callee's early UPDATE offer that its early session is (we answered it while
 * ringing); a hold it asked for is the answered call's, as a re-INVITE's would be.
 */
function confirm(ua: SipUserAgent, leg: SipLeg, res: SipResponse, peerOffer?: string): void {
  leg.dialog.send({ type: 'DIALOG.CONFIRMED', ...establishment(res) });
  sendAck2xx(ua, leg, res);
  // A call hung up before this 2xx has no session timer to set up: only its BYE is left. (Its
  // media was set just before, by `mediaFollows`.)
  if (!leg.call.isEnded) {
    uacAnswered(ua, leg, res.headers);
    leg.peerAllow = allowSet(res.headers); // (call.update() may ask for UPDATE whatever holdMethod says)
  }
  // Answered — or, when our CANCEL lost the race, ended with a BYE (§9.1): the session machine decides.
  leg.session.send({ type: 'INVITE.ANSWERED' });
  if (peerOffer !== undefined && !leg.call.isEnded && leg.session.getSnapshot().status === 'active') leg.session.send({ type: 'REMOTE.OFFER', hold: isHoldOffer(peerOffer) });
}

/**
 * The winning 2xx brought no answer to our offer, in it or its early dialog (§13.2.1; a refused
 * one counts as none): it is a dialog all the same, confirmed and ACKed, and the session machine
 * ends it with a BYE and fails the call (INVITE.UNUSABLE).
 */
function abandon(ua: SipUserAgent, leg: SipLeg, res: SipResponse, tag: string): void {
  leg.dialog.send({ type: 'DIALOG.CONFIRMED', ...establishment(res) });
  sendAck2xx(ua, leg, res);
  const sdp = res.body.length ? res.body.toString('utf8') : undefined;
  const reason = (sdp !== undefined ? inviteAnswerRefusal(ua, leg, sdp) : undefined) ?? '2xx without an answer to our offer';
  leg.log.warn({ tag, reason }, 'the winning 2xx makes no session: ACKed and ended with a BYE');
  leg.session.send({ type: 'INVITE.UNUSABLE', reason });
}

export function provideInviteForks(ua: SipUserAgent, legOf: (actorId: string) => SipLeg | undefined) {
  /** The action's leg and the response it carries (opaque to the machine). */
  const with2 =
    (f: (leg: SipLeg, res: SipResponse, tag: string) => void) =>
    ({ self }: { self: { id: string } }, p: { tag: string; response: unknown }) => {
      const leg = legOf(self.id);
      if (leg && p.response) f(leg, p.response as SipResponse, p.tag);
    };
  return sipInviteForksMachine.provide({
    actions: {
      earlyDialog: ({ self }, p) => {
        const leg = legOf(self.id);
        if (!leg || !p.response) return;
        const e = establishment(p.response as SipResponse);
        const current = leg.dialogState.remoteTag;
        if (p.created && current !== undefined && current !== p.tag) leg.log.info({ tag: p.tag, first: current }, 'forked INVITE: early dialog of another branch');
        leg.dialog.send({ type: 'DIALOG.EARLY', ...e, remoteTag: p.tag });
      },
      confirm: ({ self }, p) => {
        const leg = legOf(self.id);
        if (leg && p.response) confirm(ua, leg, p.response as SipResponse, p.peerOffer);
      },
      abandon: with2((leg, res, tag) => abandon(ua, leg, res, tag)),
      mediaFollows: ({ self }, p) => {
        const leg = legOf(self.id);
        // (A call hung up meanwhile has no media to move.)
        if (!leg || leg.call.isEnded) return;
        leg.log.debug({ tag: p.tag, branch: p.branch }, 'media follows a branch\'s answer');
        applyRemoteSdp(ua, leg, p.sdp, { branch: p.branch, ...(p.local !== undefined ? { local: p.local } : {}) });
      },
      byeEarly: ({ self }, p) => legOf(self.id)?.dialog.send({ type: 'EARLY.BYE', remoteTag: p.tag }),
      refuseCall: ({ self }, p) => {
        const leg = legOf(self.id);
        if (!leg) return;
        leg.log.warn({ finalStatus: p.status, reason: p.reason }, 'every branch\'s answer refused: the call fails');
        if (leg.dialog.getSnapshot().status === 'active') leg.dialog.send({ type: 'DIALOG.REJECTED', status: p.status ?? 488 });
        if (leg.session.getSnapshot().status === 'active') leg.session.send({ type: 'INVITE.FAILED', status: 488, reason: `answer refused: ${p.reason}` });
      },
      dropEarly: ({ self }, p) => legOf(self.id)?.log.info({ tags: p.tags }, 'forked INVITE: early dialogs that never answered dropped'),
      ackAgain: with2((leg, res) => sendAck2xx(ua, leg, res)),
      ackLate: with2((leg, res) => {
        const p = lateDialogRequest(legDialog(leg), res, 'ACK');
        if (!p) return;
        const { req, dest } = inDialogRequest(ua, leg, p);
        ua.transactions.sendStateless(req, dest);
      }),
      byeLate: with2((leg, res, tag) => {
        const p = lateDialogRequest(legDialog(leg), res, 'BYE');
        if (!p) return;
        leg.log.info({ tag, winner: leg.dialogState.remoteTag }, 'forked INVITE: 2xx from another branch ACKed and sent a BYE');
        const { req, dest } = inDialogRequest(ua, leg, p);
        ua.transactions.request(req, dest, {
          onResponse: (r) => {
            if (r.status >= 200) leg.log.debug({ tag, status: r.status }, 'BYE of a losing branch answered');
          },
        });
      }),
    },
  });
}
