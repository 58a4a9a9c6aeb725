// call.update() on a SIP leg: a new offer of ours in the confirmed dialog, in a re-INVITE (RFC 3261
// §14.1) or an UPDATE (RFC 3311 §5.1); in the early dialog by UPDATE only, once the early
// offer/answer is done (the reliable provisional machine's `earlyOfferAnswer` as the caller,
// `answerAcked` as the callee: the PRACK of our 18x with the answer got our 200). The
// INVITE session machine decides when it goes (one offer at a time: after a hold/resume in flight,
// again after a 491's glare timer or a 500's Retry-After) and when it is over (`REOFFER` in,
// `sendReinvite`/`updateDone` out); here the offer is built and sent and the app's promise
// settled. The answer itself is applied (codec, address, port) where every answer to our offers
// is, in in-dialog.ts. The map below holds promises and options, no protocol state.
import { CallUpdateError, type CallUpdateOptions, type CallUpdateResult } from '../../call/update.js';
import type { SipLeg } from './legs.js';
import { buildLocalSdp } from './media-binding.js';
import { uacHeaders } from './session-timer.js';

type Method = CallUpdateResult['method'];

/** An app's update the session machine has not reported done yet. */
export interface PendingUpdate {
  method: Method;
  codecs: CallUpdateOptions['codecs'];
  /** The offer as sent (as the callee before our 2xx: that 2xx then carries it, our latest SDP). */
  sdp?: string;
  resolve(r: CallUpdateResult): void;
  reject(e: CallUpdateError): void;
}

/**
 * Check the options, number the update and hand it to the session machine. Throws (before
 * anything is sent) on options this leg cannot honour.
 */
export function startUpdate(leg: SipLeg, opts: CallUpdateOptions = {}): Promise<CallUpdateResult> {
  const { codecs } = opts;
  if (codecs !== undefined) {
    if (!Array.isArray(codecs) || codecs.length === 0) throw new RangeError('update: codecs must be a non-empty list');
    const unknown = codecs.find((c) => !leg.ua.codecs.includes(c));
    if (unknown !== undefined) throw new RangeError(`update: codec ${JSON.stringify(unknown)} is not one of this engine's (${leg.ua.codecs.join(', ')})`);
    if (new Set(codecs).size !== codecs.length) throw new RangeError('update: codecs has duplicates');
  }
  if (opts.method !== undefined && opts.method !== 'INVITE' && opts.method !== 'UPDATE') throw new RangeError(`update: method must be 'INVITE' or 'UPDATE', got ${String(opts.method)}`);
  const peerUpdates = leg.peerAllow?.has('UPDATE') === true;
  if (!leg.dialog.getSnapshot().matches('live')) throw new Error('update: the call has no dialog (yet) to send an offer in');
  const early = leg.dialog.getSnapshot().matches({ live: 'early' });
  if (early) checkEarly(leg, opts, peerUpdates);
  // §5.1 of RFC 3311: an UPDATE only toward a peer that said it understands one.
  else if (opts.method === 'UPDATE' && !peerUpdates) throw new Error('update: the peer does not allow UPDATE (its Allow does not name it)');
  const method: Method = early ? 'UPDATE' : (opts.method ?? (leg.ua.opts.holdMethod === 'UPDATE' && peerUpdates ? 'UPDATE' : 'INVITE'));
  const id = ++leg.updateSeq;
  const done = new Promise<CallUpdateResult>((resolve, reject) => (leg.updates ??= new Map()).set(id, { method, codecs, resolve, reject }));
  leg.session.send({ type: 'REOFFER', id });
  return done;
}

/**
 * RFC 3311 §5.1 in the early dialog: an UPDATE, toward a peer whose Allow (in its 18x, or its
 * INVITE) names it. As the caller once the answer to our INVITE's offer came in a reliable 18x
 * whose PRACK got a 2xx, in the dialog the call follows now; as the callee once the PRACK of our
 * reliable 18x with the answer (or of the one with our offer) got our 200.
 */
function checkEarly(leg: SipLeg, opts: CallUpdateOptions, peerUpdates: boolean): void {
  if (opts.method === 'INVITE') throw new Error('update: a re-INVITE cannot go in an early dialog (use UPDATE)');
  if (!peerUpdates) throw new Error('update: the peer does not allow UPDATE (its Allow does not name it)');
  if (leg.call.direction === 'inbound') {
    if (leg.rel?.getSnapshot().context.answerAcked !== true) {
      throw new Error('update: the early offer/answer is not done (no reliable 18x of ours with the answer, or its PRACK has not come)');
    }
    return;
  }
  const tag = leg.dialogState.remoteTag;
  const rel = leg.rel?.getSnapshot().context.earlyOfferAnswer;
  if (!tag || rel?.[tag]?.done !== true) throw new Error('update: the early offer/answer is not done (no answer in a reliable 18x whose PRACK was answered)');
}

/** The machine's `sendReinvite` for update `id`: the offer, in the hold state of this moment. */
export function sendUpdateOffer(leg: SipLeg, id: number): void {
  const u = leg.updates?.get(id);
  const before = leg.dialogState.localCSeq;
  if (u) {
    const direction = leg.call.actor.getSnapshot().context.heldBy === 'local' ? 'sendonly' : 'sendrecv';
    const body = buildLocalSdp(leg, direction, u.codecs);
    u.sdp = body;
    // (No session timer headers in the early dialog: the INVITE's 2xx settles the timer.)
    const headers = leg.dialog.getSnapshot().matches({ live: 'early' }) ? [] : uacHeaders(leg.ua, leg);
    leg.dialog.send({ type: 'REQUEST.SEND', method: u.method, body, contentType: 'application/sdp', headers });
  }
  // Not sent (the dialog is over, or the app's promise is gone): the machine hears so at once.
  if (leg.dialogState.localCSeq === before) leg.session.send({ type: 'REINVITE.DONE', status: 0 });
}

/** The machine's `updateDone`: settle each update's promise with its final status. */
export function updatesDone(leg: SipLeg, ids: readonly number[], status: number): void {
  for (const id of ids) {
    const u = leg.updates?.get(id);
    if (!u) continue;
    leg.updates!.delete(id);
    const sdp = leg.sdp;
    if (status >= 200 && status < 300 && sdp && (u.codecs === undefined || u.codecs.includes(sdp.codec))) {
      // As the callee before our 2xx: the 2xx carries our latest SDP (RFC 3261 §13.2.1 has the
      // caller ignore it, but one that reads it sees the session this UPDATE made).
      if (leg.inviteTx && leg.answerSdp !== undefined && u.sdp !== undefined) leg.answerSdp = u.sdp;
      u.resolve({ method: u.method, status, codec: sdp.codec, remote: { address: sdp.remote.address, port: sdp.remote.port } });
      leg.log.info({ method: u.method, codec: sdp.codec, remote: sdp.remote }, 'update answered');
    } else if (status >= 200 && status < 300) {
      // A 2xx whose answer we could not use (none, or a codec we did not offer): media is unchanged.
      u.reject(new CallUpdateError(`update: the ${status} to our ${u.method} carried no usable answer`, status));
    } else u.reject(new CallUpdateError(status === 0 ? `update: the ${u.method} was not sent (the call is ending)` : `update: the peer refused our ${u.method} with ${status}`, status));
  }
}

/** The call ended: updates still waiting never get an answer. */
export function dropUpdates(leg: SipLeg): void {
  const left = leg.updates;
  if (!left?.size) return;
  leg.updates = undefined;
  for (const u of left.values()) u.reject(new CallUpdateError(`update: the call ended before the ${u.method} was answered`, 0));
}
