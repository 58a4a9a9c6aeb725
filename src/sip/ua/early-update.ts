// UPDATE in the early dialog (RFC 3311 §5.2): as the callee before our final response to the
// INVITE, as the caller before the INVITE's 2xx. Whether an offer in it may be answered (the
// INVITE's offer/answer done in a reliable 18x and its PRACK, nothing of ours outstanding) is the
// reliable provisional machine's call (machines/sipReliableProvisional.machine.ts, `UPDATE.OFFER`);
// here are its wire effects. As the callee an answered offer moves media to the UPDATE's address
// as a re-INVITE's does, and our later 2xx to the INVITE carries this latest answer. As the caller
// it becomes that branch's early session (the branches machine, forks.ts: media follows it if it
// is at that branch, else when that branch is followed again or wins). While an UPDATE offer of
// ours is out (call.update() while ringing, reoffer.ts) the event says so (`localOffer`) and the
// machine answers 491.
import { formatNameAddr, parseNameAddr } from '../codec/headers.js';
import type { ServerTransaction } from '../transactions/layer.js';
import type { SipLeg } from './legs.js';
import { answerBranchOffer, answerReoffer, isSecureSdp } from './media-binding.js';
import type { SipUserAgent } from './user-agent.js';

/**
 * An UPDATE (its CSeq accepted by the dialog actor) while the INVITE has no final response yet
 * (ours as the callee, the peer's as the caller). No session timer is negotiated here: the
 * INVITE's 2xx does that.
 */
export function onEarlyUpdate(leg: SipLeg, tx: ServerTransaction): void {
  const req = tx.request;
  const contact: [string, string] = ['Contact', formatNameAddr(leg.contact())];
  if (req.body.length === 0) {
    tx.reply(200, 'OK', { headers: [contact] });
    return;
  }
  if ((req.headers.get('Content-Type') ?? '').split(';')[0]!.trim().toLowerCase() !== 'application/sdp') {
    tx.reply(415, 'Unsupported Media Type', { headers: [['Accept', 'application/sdp']] });
    return;
  }
  leg.updateTx = tx;
  // (The From tag names the caller's early dialog: a forked INVITE has one per branch.)
  const tag = req.headers.parsedFirst('From', parseNameAddr)?.tag;
  leg.rel?.send({ type: 'UPDATE.OFFER', localOffer: localOfferOut(leg), ...(tag ? { tag } : {}) });
  // No machine (no reliable 18x, so no early offer/answer took place), or it let this one be.
  if (leg.updateTx === tx) {
    leg.updateTx = undefined;
    refuse(tx, 500);
  }
}

/** Our early UPDATE's offer awaits its answer: the INVITE session machine has it in flight. */
export function localOfferOut(leg: SipLeg): boolean {
  return leg.session.getSnapshot().matches({ active: { reinvite: 'inFlight' } });
}

/** The machine's `answerUpdate`: our answer in the UPDATE's 200; 488 when nothing in the offer is acceptable. */
export function answerEarlyUpdate(ua: SipUserAgent, leg: SipLeg): void {
  const tx = leg.updateTx;
  leg.updateTx = undefined;
  if (tx) answerEarlyOffer(ua, leg, tx, 'UPDATE');
}

/**
 * A new offer in the early dialog (an UPDATE's, or a PRACK's: RFC 3262 §5) answered in the 200 to
 * its request, media following it; 488 when nothing in it is acceptable (the session stays as it was).
 */
export function answerEarlyOffer(ua: SipUserAgent, leg: SipLeg, tx: ServerTransaction, method: 'UPDATE' | 'PRACK'): void {
  const r = answerReoffer(ua, leg, tx.request.body.toString('utf8'));
  if (!r) {
    tx.reply(488, 'Not Acceptable Here');
    return;
  }
  // RFC 3261 §13.2.1 has the caller ignore SDP in the 2xx after the answer in a 183; ours then
  // carries this answer, so a caller that does read it sees the session the offer made.
  if (leg.answerSdp !== undefined) leg.answerSdp = r.answer;
  leg.session.send({ type: 'REMOTE.OFFER', hold: r.hold });
  tx.reply(200, 'OK', { headers: [['Contact', formatNameAddr(leg.contact())]], body: r.answer, contentType: 'application/sdp' });
  leg.log.info({ method }, 'answered an offer in the early dialog');
}

/**
 * The machine's `answerBranchUpdate` (as the caller): our answer in the UPDATE's 200, and the
 * offer/answer made branch `tag`'s early session; 488 when nothing in the offer is acceptable
 * (the session stays as it was), 481 when that early dialog is over meanwhile.
 */
export function answerBranchUpdate(ua: SipUserAgent, leg: SipLeg, tag: string): void {
  const tx = leg.updateTx;
  leg.updateTx = undefined;
  if (!tx) return;
  const forks = leg.forks?.getSnapshot();
  if (forks?.status !== 'active' || forks.value !== 'calling' || !forks.context.early.includes(tag)) {
    tx.reply(481, 'Call/Transaction Does Not Exist');
    return;
  }
  const offer = tx.request.body.toString('utf8');
  const session = forks.context.answers.find((a) => a.tag === tag);
  const answer = answerBranchOffer(ua, leg, offer, session !== undefined && isSecureSdp(session.local ?? session.sdp));
  if (answer === undefined) {
    tx.reply(488, 'Not Acceptable Here');
    return;
  }
  leg.forks!.send({ type: 'EARLY_SESSION', tag, sdp: offer, local: answer });
  tx.reply(200, 'OK', { headers: [['Contact', formatNameAddr(leg.contact())]], body: answer, contentType: 'application/sdp' });
  leg.log.info({ tag }, 'answered the callee’s offer in its early dialog');
}

/** The machine's `refuseUpdate`: 491 (our offer is out) or 500 with Retry-After (an offer has no answer yet). */
export function refuseEarlyUpdate(leg: SipLeg, status: 491 | 500): void {
  const tx = leg.updateTx;
  leg.updateTx = undefined;
  if (tx) refuse(tx, status);
}

export function refuse(tx: ServerTransaction, status: 491 | 500): void {
  // §5.2: the 500's Retry-After is chosen at random between 0 and 10 s.
  if (status === 491) tx.reply(491, 'Request Pending');
  else tx.reply(500, 'Server Internal Error', { headers: [['Retry-After', String(Math.floor(Math.random() * 11))]] });
}
