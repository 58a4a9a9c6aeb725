// Reliable provisional responses (RFC 3262) on the wire: `100rel` in Supported/Require, RSeq on our
// reliable 18x and RAck on PRACK, and the effects of the reliable provisional machine
// (machines/sipReliableProvisional.machine.ts), which holds the RSeq sequence, the retransmission
// schedule, which PRACK matches, when our held 2xx may go, and which 18x a UAC PRACKs. A leg gets
// that actor only when 100rel is in use on it: other calls cost nothing more and keep their wire.
import { sipReliableProvisionalMachine } from '../../../machines/sipReliableProvisional.machine.js';
import { allowSet, formatNameAddr, parseCSeq, parseNameAddr, tokenList } from '../codec/headers.js';
import type { HeaderList } from '../codec/header-list.js';
import { createResponse, type SipResponse } from '../codec/message.js';
import type { ServerTransaction } from '../transactions/layer.js';
import type { SipLeg } from './legs.js';
import { answerBranchUpdate, answerEarlyOffer, answerEarlyUpdate, localOfferOut, refuse, refuseEarlyUpdate } from './early-update.js';
import { applyRemoteSdp } from './media-binding.js';
import type { SipUserAgent } from './user-agent.js';

/**
 * `sip.reliableProvisionals`: 'off' (no 100rel: an INVITE requiring it gets 420), 'supported'
 * (the default: `Supported: 100rel` in our INVITEs and 2xx; our 18x are reliable when the INVITE
 * requires it; a reliable 18x to our INVITE is PRACKed), 'required' (our INVITEs require it; our
 * 18x are reliable whenever the caller supports it, and an INVITE that does not gets 421).
 */
export type ReliableProvisionalMode = 'off' | 'supported' | 'required';

export function reliableProvisionalMode(m: unknown): ReliableProvisionalMode {
  if (m === undefined) return 'supported';
  if (m === 'off' || m === 'supported' || m === 'required') return m;
  throw new Error(`sip.reliableProvisionals must be 'off', 'supported' or 'required', got ${String(m)}`);
}

const has100rel = (h: HeaderList, name: string) => tokenList(h, name).some((t) => t.toLowerCase() === '100rel');

/** UAS (§3): whether this INVITE's 18x go reliably, or the INVITE gets 421 (we require what it lacks). */
export function uasReliability(mode: ReliableProvisionalMode, h: HeaderList): 'reliable' | 'unreliable' | 'extension-required' {
  if (mode === 'off') return 'unreliable'; // an INVITE requiring 100rel already got 420
  if (has100rel(h, 'Require')) return 'reliable';
  if (mode === 'supported') return 'unreliable';
  return has100rel(h, 'Supported') ? 'reliable' : 'extension-required';
}

/** UAC: what our INVITE says about 100rel. */
export function inviteHeaders(mode: ReliableProvisionalMode): Array<[string, string]> {
  if (mode === 'supported') return [['Supported', '100rel']];
  return mode === 'required' ? [['Require', '100rel']] : [];
}

/** §7.1: RSeq = 1*DIGIT, 1 to 2**32-1. */
export function parseRSeq(v: string | undefined): number | undefined {
  if (v === undefined || !/^\s*\d{1,10}\s*$/.test(v)) return undefined;
  const n = Number(v);
  return n >= 1 && n <= 0xffffffff ? n : undefined;
}

/** §7.2: RAck = response-num LWS CSeq-num LWS Method. */
export function parseRAck(v: string | undefined): { rseq: number; cseq: number; method: string } | undefined {
  const m = v === undefined ? null : /^\s*(\d{1,10})\s+(\d{1,10})\s+([A-Za-z0-9.!%*_+`'~-]+)\s*$/.exec(v);
  if (!m) return undefined;
  const rseq = parseRSeq(m[1]);
  const cseq = Number(m[2]);
  return rseq === undefined || cseq > 0xffffffff ? undefined : { rseq, cseq, method: m[3]! };
}

export function reliableProvisionalId(callId: string): string {
  return `rel-${callId}`;
}

/**
 * UAS, 'supported' mode: a 183 (early media) to an INVITE with an offer whose caller supports 100rel
 * but did not require it goes reliably, so it may carry our answer (RFC 3261 §13.3.1: an answer goes
 * only in a reliable response). False when this call keeps plain 18x.
 */
export function startReliableForEarlyMedia(ua: SipUserAgent, leg: SipLeg, status: number): boolean {
  const invite = leg.inviteTx?.request;
  if (leg.rel || status !== 183 || ua.reliableProvisionals === 'off' || !invite || leg.answerSdp === undefined) return false;
  if (!has100rel(invite.headers, 'Supported') && !has100rel(invite.headers, 'Require')) return false;
  const cseq = invite.headers.parsedFirst('CSeq', parseCSeq);
  if (!cseq) return false;
  startReliableUas(ua, leg, cseq.seq, false);
  return true;
}

/** UAS: the INVITE's 18x go reliably (called once its dialog exists). */
export function startReliableUas(ua: SipUserAgent, leg: SipLeg, inviteCSeq: number, delayedOffer: boolean): void {
  // §3: the first RSeq is chosen uniformly between 1 and 2**31-1.
  const firstRSeq = 1 + Math.floor(Math.random() * (2 ** 31 - 2));
  leg.rel = ua.spawnReliableProvisional(leg, { role: 'uas', t1: ua.timers.t1, firstRSeq, inviteCSeq, delayedOffer });
}

/** A PRACK in the early dialog (its CSeq accepted by the dialog actor): the machine matches its RAck. */
export function onPrack(leg: SipLeg, tx: ServerTransaction): void {
  const rack = parseRAck(tx.request.headers.get('RAck'));
  if (!rack) {
    tx.reply(400, 'Bad Request (RAck)');
    return;
  }
  // SDP in a PRACK is an answer or a new offer (RFC 3262 §5); another body type is neither.
  const sdp = tx.request.body.length > 0;
  if (sdp && (tx.request.headers.get('Content-Type') ?? '').split(';')[0]!.trim().toLowerCase() !== 'application/sdp') {
    tx.reply(415, 'Unsupported Media Type', { headers: [['Accept', 'application/sdp']] });
    return;
  }
  leg.prackTx = tx;
  leg.rel?.send({ type: 'PRACK', ...rack, ...(sdp ? { sdp, localOffer: localOfferOut(leg) } : {}) });
  // No machine (no 100rel on this call), or it did not answer: nothing outstanding matches (§3).
  if (leg.prackTx === tx) {
    leg.prackTx = undefined;
    tx.reply(481, 'Call/Transaction Does Not Exist');
  }
}

/**
 * UAC: a 18x to our INVITE, after its early dialog was made. A reliable one (Require: 100rel, RSeq)
 * is PRACKed when in order; false when it is a retransmission or out of order: §4 says such a
 * response is not processed further. `answer`: its SDP is the answer to our offer, the first of its
 * early dialog (media follows it through the branches machine, forks.ts).
 */
export function onProvisional(ua: SipUserAgent, leg: SipLeg, res: SipResponse, answer: boolean): boolean {
  const ev = reliableEvent(ua, res);
  if (!ev) {
    if (ev === null) leg.log.info({ status: res.status }, 'reliable provisional without a valid RSeq or To tag: not PRACKed');
    return true;
  }
  leg.rel ??= ua.spawnReliableProvisional(leg, { role: 'uac', t1: ua.timers.t1 });
  if (!leg.rel.getSnapshot().can(ev)) return false;
  // §5: an answer in a reliable 18x is the answer to our offer (early media); once its PRACK is
  // answered the early dialog may take an UPDATE offer of ours (RFC 3311 §5.1), if its Allow says so.
  leg.rel.send(answer ? { ...ev, answer } : ev);
  leg.peerAllow = allowSet(res.headers) ?? leg.peerAllow;
  return true;
}

/**
 * UAC: the SDP of a reliable 18x (RFC 3262 §5: it may carry the answer to our offer; an unreliable
 * one carries none, RFC 3261 §13.2.1), for the branches machine, which keeps each early dialog's first.
 */
export function reliableAnswer(ua: SipUserAgent, res: SipResponse): string | undefined {
  if (res.body.length === 0 || !reliableEvent(ua, res)) return undefined;
  const type = (res.headers.get('Content-Type') ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/sdp' ? res.body.toString('utf8') : undefined;
}

/** UAC: a reliable 18x as the machine's event; undefined when not reliable, null when malformed. */
function reliableEvent(ua: SipUserAgent, res: SipResponse) {
  if (ua.reliableProvisionals === 'off' || !has100rel(res.headers, 'Require')) return undefined;
  const rseq = parseRSeq(res.headers.get('RSeq'));
  const tag = res.headers.parsedFirst('To', parseNameAddr)?.tag;
  const cseq = res.headers.parsedFirst('CSeq', parseCSeq);
  if (rseq === undefined || !tag || !cseq) return null;
  return { type: 'RELIABLE' as const, tag, rseq, cseq: cseq.seq, status: res.status };
}

/**
 * UAC: a reliable 18x the machine would not PRACK (a retransmission, or out of order). §4: it is
 * not processed further, so it must not even turn the call's dialog back to its branch (forks.ts).
 */
export function repeatedReliable(ua: SipUserAgent, leg: SipLeg, res: SipResponse): boolean {
  const ev = reliableEvent(ua, res);
  return !!ev && leg.rel !== undefined && !leg.rel.getSnapshot().can(ev);
}

/** What the machine's actions do on the wire. */
export function provideReliableProvisional(ua: SipUserAgent, legOf: (actorId: string) => SipLeg | undefined) {
  const on =
    <P>(f: (leg: SipLeg, p: P) => void) =>
    ({ self }: { self: { id: string } }, p: P) => {
      const leg = legOf(self.id);
      if (leg) f(leg, p);
    };
  return sipReliableProvisionalMachine.provide({
    actions: {
      sendProvisional: on((leg, p: { status: number; rseq: number; offer: boolean; answer: boolean }) => {
        const tx = leg.inviteTx;
        if (!tx) return;
        // The INVITE had no offer: ours goes in the first reliable 18x (RFC 3261 §13.3.1, RFC 3262 §5).
        // It had one: our answer goes in the first reliable 183, the same bytes the 2xx repeats.
        const body = p.offer ? leg.localSdp() : p.answer ? leg.answerSdp : undefined;
        const res = createResponse(tx.request, p.status, p.status === 180 ? 'Ringing' : undefined, {
          toTag: leg.localTag,
          headers: [['Contact', formatNameAddr(leg.contact())], ['Require', '100rel'], ['RSeq', String(p.rseq)]],
          ...(body !== undefined ? { body, contentType: 'application/sdp' } : {}),
        });
        leg.reliableSent = tx.respond(res);
        // The caller has our answer: media may flow before the 2xx (a play() waiting for it starts).
        if (p.answer && body !== undefined) leg.startEarlyMedia();
      }),
      retransmit: on((leg) => {
        if (leg.reliableSent && leg.inviteTx) ua.transport.sendBytes(leg.reliableSent.bytes, leg.reliableSent.to);
      }),
      acceptPrack: on((leg, p: { answer: boolean; offer: boolean }) => {
        const tx = leg.prackTx;
        // A new offer (§5): our answer goes in this PRACK's 200.
        if (p.offer && tx) {
          leg.prackTx = undefined;
          answerEarlyOffer(ua, leg, tx, 'PRACK');
          return;
        }
        // The answer to the offer our reliable 18x carried (RFC 3262 §5) comes in its PRACK.
        const body = tx?.request.body;
        if (p.answer && body?.length) applyRemoteSdp(ua, leg, body.toString('utf8'));
        answerPrack(leg, 200, 'OK');
      }),
      refusePrackOffer: on((leg, p: { status: 491 | 500 }) => {
        const tx = leg.prackTx;
        leg.prackTx = undefined;
        leg.log.info({ status: p.status }, 'an offer in a PRACK refused: the INVITE\'s offer unanswered (500) or ours out (491)');
        if (tx) refuse(tx, p.status);
      }),
      rejectPrack: on((leg) => answerPrack(leg, 481, 'Call/Transaction Does Not Exist')),
      answerUpdate: on((leg) => answerEarlyUpdate(ua, leg)),
      answerBranchUpdate: on((leg, p: { tag: string }) => answerBranchUpdate(ua, leg, p.tag)),
      refuseUpdate: on((leg, p: { status: 491 | 500 }) => refuseEarlyUpdate(leg, p.status)),
      sendAnswer: on((leg, p: { sdp: boolean }) => {
        leg.reliableSent = undefined;
        // The session machine sends it, once our early UPDATE's offer (if out) has its answer.
        leg.session.send(p.sdp ? { type: 'ANSWER' } : { type: 'ANSWER', sdp: false });
      }),
      giveUp: on((leg) => {
        leg.reliableSent = undefined;
        leg.log.warn('no PRACK for our reliable provisional within 64*T1: rejecting the INVITE');
        // §3: the UAS SHOULD reject the original request with a 5xx.
        leg.rejectInvite(504, 'Server Time-out (no PRACK)');
        leg.call?.actor.send({ type: 'CALL.FAILED', code: 504, reason: 'no PRACK for a reliable provisional response' });
      }),
      sendPrack: on((leg, p: { rseq: number; cseq: number }) => {
        leg.dialog.send({ type: 'REQUEST.SEND', method: 'PRACK', headers: [['RAck', `${p.rseq} ${p.cseq} INVITE`]] });
      }),
    },
  });
}

function answerPrack(leg: SipLeg, status: number, reason: string): void {
  const tx = leg.prackTx;
  leg.prackTx = undefined;
  tx?.reply(status, reason);
}
