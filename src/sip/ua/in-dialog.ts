// Requests within a dialog (RFC 3261 §12.2, §14, §15; RFC 3515; RFC 3311): received ones (BYE,
// re-INVITE, UPDATE, INFO, NOTIFY, REFER) once the dialog actor accepted their CSeq, and the ones
// this side sends (re-INVITE for hold/resume, UPDATE or re-INVITE for a session refresh, INFO for
// DTMF, REFER, BYE) with the ACK of a 2xx. Every re-INVITE and UPDATE is a session refresh
// (RFC 4028): its 2xx carries (or drops) Session-Expires, and the session timer hears of it.
import type { SipDialogRequestParams } from '../../../machines/sipDialog.machine.js';
import { parseDtmfInfo, formatDtmfInfo, DTMF_RELAY } from '../codec/dtmf-info.js';
import { contactUriOf, formatNameAddr, parseCSeq, parseNameAddr, type NameAddr } from '../codec/headers.js';
import { createRequest, createResponse, type SipRequest, type SipResponse } from '../codec/message.js';
import { formatUri, parseUri, type Uri } from '../codec/uri.js';
import type { ServerTransaction } from '../transactions/layer.js';
import type { Endpoint } from '../transport/udp.js';
import type { CallSipRequestOptions, CallSipResponse, CallTransferOptions } from '../../call/call.js';
import type { SipLeg } from './legs.js';
import { answerReoffer, applyRemoteSdp, inviteAnswerRefusal } from './media-binding.js';
import { routedRequest } from './route-set.js';
import { ALLOW } from './options.js';
import { onRefer } from './referee.js';
import { onPrack, parseRAck } from './prack.js';
import { onEarlyUpdate } from './early-update.js';
import { sendUpdateOffer } from './reoffer.js';
import { negotiateUas, parseMinSE, uacAnswered, uacHeaders, uasAnswered, uasHeaders, type UasSessionTimer } from './session-timer.js';
import type { SessionRefreshMethod } from '../../../machines/sipSessionTimer.machine.js';
import type { SipUserAgent } from './user-agent.js';

/** A request carrying our To tag: the dialog actor checks its CSeq, then accepts or rejects it. */
export function onDialogRequest(ua: SipUserAgent, tx: ServerTransaction, req: SipRequest, toTag: string): void {
  const leg = ua.legs.find(req, toTag);
  if (!leg) {
    tx.reply(481, 'Call/Transaction Does Not Exist');
    return;
  }
  // It echoed our tag: the peer receives what we send, from this address too.
  leg.peer.heardFrom(tx.source, true);
  const cseq = req.headers.parsedFirst('CSeq', parseCSeq)!;
  const contact = req.headers.get('Contact');
  leg.pending = tx;
  // (The From tag: a forked INVITE's early dialogs, and a late branch's dialog, are told apart by it.)
  const remoteTag = req.headers.parsedFirst('From', parseNameAddr)?.tag;
  if (req.method === 'BYE') leg.dialog.send({ type: 'BYE.RECEIVED', cseq: cseq.seq, ...(remoteTag ? { remoteTag } : {}) });
  else {
    leg.dialog.send({ type: 'REQUEST.RECEIVED', method: req.method, cseq: cseq.seq, contact: contact ? contactUriOf(contact) : undefined, ...(remoteTag ? { remoteTag } : {}) });
  }
  // The dialog accepted or rejected synchronously; if it ignored the request, say so.
  if (leg.pending === tx) {
    leg.pending = undefined;
    tx.reply(481, 'Call/Transaction Does Not Exist');
  }
}

/** The dialog accepted the request (its CSeq is in order): act on it. */
export function handleInDialog(ua: SipUserAgent, leg: SipLeg, tx: ServerTransaction): void {
  const req = tx.request;
  const call = leg.call;
  switch (req.method) {
    case 'BYE':
      tx.reply(200, 'OK');
      call.actor.send({ type: 'CALL.REMOTE_HANGUP', detail: 'BYE received' });
      return;
    case 'INVITE':
      return onReinvite(ua, leg, tx);
    case 'UPDATE':
      return onUpdate(ua, leg, tx);
    case 'INFO': {
      const dtmf = parseDtmfInfo(req.headers.get('Content-Type') ?? '', req.body.toString('utf8'));
      if (!dtmf) {
        if (req.body.length === 0) tx.reply(200, 'OK'); // empty INFO: a keep-alive
        else tx.reply(415, 'Unsupported Media Type', { headers: [['Accept', 'application/dtmf-relay, application/dtmf']] });
        return;
      }
      tx.reply(200, 'OK');
      call.actor.send({ type: 'DTMF', digit: dtmf.digit, source: 'sip-info', durationMs: dtmf.durationMs });
      return;
    }
    case 'NOTIFY': {
      tx.reply(200, 'OK');
      const status = /^SIP\/2\.0\s+(\d{3})/.exec(req.body.toString('utf8'))?.[1];
      if ((req.headers.get('Event') ?? '').toLowerCase().startsWith('refer') && status) {
        const code = Number(status);
        ua.calls.driverOf(call)?.transferProgress(code, 'notify');
        leg.log.info({ code }, 'transfer progress');
        // Blind transfer done: the transferee reached the target, so this leg hangs up.
        // The 200 to this NOTIFY is queued behind the transaction's current step: hang up on
        // the next turn so the BYE cannot overtake it.
        if (code >= 200 && code < 300) setImmediate(() => call.isActive && call.hangup('transferred'));
      }
      return;
    }
    case 'REFER':
      return onRefer(ua, leg, tx);
    case 'PRACK':
      return onPrack(leg, tx);
    default:
      tx.reply(405, 'Method Not Allowed', { headers: [['Allow', ALLOW]] });
  }
}

/** RFC 4028 §9 for a refresh we received (undefined: no session timers); `refused`: it got its 422 here. */
function refreshTimer(ua: SipUserAgent, tx: ServerTransaction): UasSessionTimer | undefined | 'refused' {
  if (!ua.sessionTimers) return undefined;
  const t = negotiateUas(ua.sessionTimers, tx.request.headers);
  if (t.kind !== 'too-brief') return t;
  ua.stats.sessionIntervalsTooSmall++;
  tx.reply(422, 'Session Interval Too Small', { headers: [['Min-SE', String(t.minSE)]] });
  return 'refused';
}

function onReinvite(ua: SipUserAgent, leg: SipLeg, tx: ServerTransaction): void {
  const req = tx.request;
  const timer = refreshTimer(ua, tx);
  if (timer === 'refused') return;
  const body = req.body.toString('utf8');
  let answer: string;
  if (body) {
    const r = answerReoffer(ua, leg, body);
    if (!r) {
      tx.reply(488, 'Not Acceptable Here');
      return;
    }
    answer = r.answer;
    leg.session.send({ type: 'REMOTE.OFFER', hold: r.hold });
  } else {
    answer = leg.localSdp(); // re-INVITE without offer: we offer in the 200
  }
  const res = createResponse(req, 200, 'OK', {
    toTag: leg.localTag,
    headers: [['Contact', formatNameAddr(leg.contact())], ...(timer ? uasHeaders(timer) : [])],
    body: answer,
    contentType: 'application/sdp',
  });
  leg.sent2xx(tx.respond(res));
  if (timer) uasAnswered(ua, leg, timer, req.headers);
}

/**
 * UPDATE (RFC 3311): without a body a session refresh (200); with an offer, answered in the 200 as a
 * re-INVITE's would be. §5.2: an offer while ours is out is 491; one while the call's own
 * offer/answer is not done is 500 with Retry-After (in the early dialog: early-update.ts).
 */
function onUpdate(ua: SipUserAgent, leg: SipLeg, tx: ServerTransaction): void {
  // Before our final response to the INVITE, or (as the caller) before its 2xx: the early
  // dialog's rules (early-update.ts).
  if (leg.inviteTx || leg.dialog.getSnapshot().matches({ live: 'early' })) return onEarlyUpdate(leg, tx);
  const req = tx.request;
  const timer = refreshTimer(ua, tx);
  if (timer === 'refused') return;
  const timerHeaders = timer ? uasHeaders(timer) : [];
  const body = req.body.toString('utf8');
  if (!body) {
    tx.reply(200, 'OK', { headers: [['Contact', formatNameAddr(leg.contact())], ...timerHeaders] });
    if (timer) uasAnswered(ua, leg, timer, req.headers);
    return;
  }
  if ((req.headers.get('Content-Type') ?? '').split(';')[0]!.trim().toLowerCase() !== 'application/sdp') {
    tx.reply(415, 'Unsupported Media Type', { headers: [['Accept', 'application/sdp']] });
    return;
  }
  if (leg.session.getSnapshot().matches({ active: { reinvite: 'inFlight' } })) {
    tx.reply(491, 'Request Pending');
    return;
  }
  if (!leg.call.isActive) {
    tx.reply(500, 'Server Internal Error', { headers: [['Retry-After', String(1 + Math.floor(Math.random() * 10))]] });
    return;
  }
  const r = answerReoffer(ua, leg, body);
  if (!r) {
    tx.reply(488, 'Not Acceptable Here');
    return;
  }
  leg.session.send({ type: 'REMOTE.OFFER', hold: r.hold });
  tx.reply(200, 'OK', { headers: [['Contact', formatNameAddr(leg.contact())], ...timerHeaders], body: r.answer, contentType: 'application/sdp' });
  if (timer) uasAnswered(ua, leg, timer, req.headers);
}

/**
 * Send the re-INVITE the session machine decided on (§14.1: it allows one at a time), or, with
 * `sip.holdMethod: 'UPDATE'` toward a peer whose Allow names UPDATE, the same offer in an UPDATE
 * (RFC 3311 §5.1: one offer at a time too, 491 and its retry alike). When the dialog will not send
 * it (it has ended), the machine hears at once that this one is done.
 */
export function sendReinviteNow(leg: SipLeg, direction: 'sendonly' | 'sendrecv', update?: number): void {
  if (update !== undefined) return sendUpdateOffer(leg, update); // the app's call.update() (reoffer.ts)
  const before = leg.dialogState.localCSeq;
  const method = leg.ua.opts.holdMethod === 'UPDATE' && leg.peerAllow?.has('UPDATE') ? 'UPDATE' : 'INVITE';
  leg.dialog.send({ type: 'REQUEST.SEND', method, body: leg.localSdp(direction), contentType: 'application/sdp', headers: uacHeaders(leg.ua, leg) });
  if (leg.dialogState.localCSeq === before) leg.session.send({ type: 'REINVITE.DONE', status: 0 });
}

/**
 * A session refresh the timer machine decided on (RFC 4028 §7.4): an UPDATE without a body, or a
 * re-INVITE with the current SDP, which the INVITE session machine serializes with hold/resume
 * (one re-INVITE at a time, its 491 retried there).
 */
export function sendRefresh(ua: SipUserAgent, leg: SipLeg, method: SessionRefreshMethod): void {
  if (method === 'UPDATE') {
    leg.dialog.send({ type: 'REQUEST.SEND', method: 'UPDATE', headers: uacHeaders(ua, leg) });
    return;
  }
  const heldLocally = leg.call.actor.getSnapshot().context.heldBy === 'local';
  leg.session.send({ type: 'REINVITE', direction: heldLocally ? 'sendonly' : 'sendrecv' });
}

/** A response's Retry-After in seconds (§20.33: delta-seconds, then an optional comment and params). */
function retryAfterOf(res: SipResponse): number | undefined {
  const m = /^\s*(\d{1,9})/.exec(res.headers.get('Retry-After') ?? '');
  return m ? Number(m[1]) : undefined;
}

/** The final response to our re-INVITE or UPDATE, for the session timer (RFC 4028 §7.2, §10). */
function refreshAnswered(ua: SipUserAgent, leg: SipLeg, offer: boolean, res: SipResponse, retried: boolean): void {
  if (res.status < 300) uacAnswered(ua, leg, res.headers);
  // An offer's 491 or 500 with Retry-After (re-INVITE, or UPDATE with SDP) is retried by the INVITE session machine; a bare UPDATE's by the timer machine.
  else if (!(offer && retried)) {
    const minSE = res.status === 422 ? parseMinSE(res.headers.get('Min-SE')) : undefined;
    leg.timer?.send({ type: 'REFRESH.FAILED', status: res.status, ...(minSE !== undefined ? { minSE } : {}) });
  }
}

/** The reliable provisional machine hears how our PRACK was answered (its early offer/answer may be done). */
function prackAnswered(leg: SipLeg, p: SipDialogRequestParams, status: number): void {
  const rack = parseRAck(p.headers?.find(([k]) => k === 'RAck')?.[1]);
  if (rack) leg.rel?.send({ type: 'PRACK.ANSWERED', tag: p.remoteTag!, rseq: rack.rseq, status });
}

/** One DTMF digit as an INFO (when the peer has no telephone-event payload). */
export function sendInfo(leg: SipLeg, digit: string): void {
  leg.dialog.send({ type: 'REQUEST.SEND', method: 'INFO', body: formatDtmfInfo(digit), contentType: DTMF_RELAY });
}

/** Blind transfer (RFC 3515): REFER the far end to `target`; NOTIFYs report progress. */
export function transfer(ua: SipUserAgent, leg: SipLeg, target: string, opts: CallTransferOptions = {}): void {
  const extra: Array<readonly [string, string]> = Object.entries(opts.headers ?? {}).filter(([k]) => !/^(refer-to|referred-by)$/i.test(k));
  leg.dialog.send({
    type: 'REQUEST.SEND',
    method: 'REFER',
    headers: [
      ['Refer-To', `<${target}>`],
      ['Referred-By', `<${opts.referredBy ?? formatUri(ua.contactUri())}>`],
      ...extra,
    ],
  });
}

/**
 * An app's request in the dialog (call.sipRequest): the dialog actor numbers and sends it; the
 * promise settles with its final response (or 408 when the transaction times out).
 */
export function sendAppRequest(leg: SipLeg, method: string, o: CallSipRequestOptions): Promise<CallSipResponse> {
  const before = leg.dialogState.localCSeq;
  leg.dialog.send({
    type: 'REQUEST.SEND',
    method,
    headers: Object.entries(o.headers ?? {}),
    ...(o.body !== undefined ? { body: o.body, contentType: o.contentType } : {}),
  });
  const cseq = leg.dialogState.localCSeq;
  if (cseq === undefined || cseq === before) return Promise.reject(new Error(`${method} not sent: the dialog is over`));
  return new Promise((resolve) => (leg.appRequests ??= new Map()).set(cseq, resolve));
}

function settleAppRequest(leg: SipLeg, cseq: number, res: CallSipResponse): void {
  const done = leg.appRequests?.get(cseq);
  if (!done) return;
  leg.appRequests!.delete(cseq);
  done(res);
}

/** Build an in-dialog request from the dialog actor's state (§12.2.1.1) and send it. */
export function sendInDialog(ua: SipUserAgent, leg: SipLeg, p: SipDialogRequestParams): void {
  if (p.method === 'ACK') return;
  if (p.method === 'INVITE' && leg.invite && p.cseq === leg.invite.headers.parsedFirst('CSeq', parseCSeq)?.seq) return; // auth retry: sent by sendInvite
  const { req, dest } = inDialogRequest(ua, leg, p);
  // An UPDATE with an offer is the session machine's re-offer (sendReinviteNow), not a bare refresh.
  const offer = p.method === 'INVITE' || (p.method === 'UPDATE' && p.body !== undefined);
  // One in the early dialog (RFC 3311 §5.1) refreshes no session: the INVITE's 2xx sets the timer.
  const early = leg.dialog.getSnapshot().matches({ live: 'early' });
  ua.transactions.request(req, dest, {
    onResponse: (res, source) => {
      leg.peer.heardFrom(source, true);
      if (res.status >= 300) leg.log.info({ method: p.method, status: res.status, reason: res.reason }, 'in-dialog request failed');
      const contact = res.headers.get('Contact');
      leg.dialog.send({ type: 'RESPONSE.RECEIVED', method: p.method, status: res.status, contact: contact ? contactUriOf(contact) : undefined, remoteTag: p.remoteTag });
      if (res.status === 481 || res.status === 408) earlyDialogEnded(leg, p.remoteTag);
      if (offer && res.status >= 200 && res.status < 300) {
        if (p.method === 'INVITE') sendAck2xx(ua, leg, res);
        const sdp = res.body.length ? res.body.toString('utf8') : undefined;
        if (sdp !== undefined && !(early && earlySession(ua, leg, p.remoteTag, sdp))) applyRemoteSdp(ua, leg, sdp);
      }
      let retried = false;
      if (offer && res.status >= 200) {
        const retryAfter = res.status === 500 ? retryAfterOf(res) : undefined;
        leg.session.send({ type: 'REINVITE.DONE', status: res.status, ...(retryAfter !== undefined ? { retryAfter } : {}) });
        retried = leg.session.getSnapshot().matches({ active: { reinvite: 'glare' } });
      }
      if ((p.method === 'INVITE' || p.method === 'UPDATE') && res.status >= 200 && !early) refreshAnswered(ua, leg, offer, res, retried);
      if (p.method === 'PRACK' && res.status >= 200 && p.remoteTag) prackAnswered(leg, p, res.status);
      if (p.method === 'REFER' && res.status >= 300) ua.calls.driverOf(leg.call)?.transferProgress(res.status, 'refer');
      if (p.method === 'BYE' && res.status >= 200) ua.forgetLegLater(leg);
      if (res.status >= 200) settleAppRequest(leg, p.cseq, { status: res.status, reason: res.reason, headers: Object.freeze([...res.headers]), body: res.body.toString('utf8') });
    },
    onTimeout: () => {
      if (offer) leg.session.send({ type: 'REINVITE.DONE', status: 408 });
      if (p.method === 'INVITE' || p.method === 'UPDATE') leg.timer?.send({ type: 'REFRESH.FAILED', status: 408 });
      leg.dialog.send({ type: 'RESPONSE.RECEIVED', method: p.method, status: 408, remoteTag: p.remoteTag });
      earlyDialogEnded(leg, p.remoteTag);
      if (p.method === 'BYE') ua.forgetLegLater(leg);
      settleAppRequest(leg, p.cseq, { status: 408, reason: 'Request Timeout', headers: [], body: '' });
    },
  });
}

/**
 * §15: the BYE that ends one early dialog of our INVITE (the dialog machine's `sendEarlyBye`: a
 * branch whose answer we refused), built from that dialog's state like any request in it. Its
 * answer changes nothing here: the dialog machine has dropped that branch already, the INVITE's
 * final response (its 487) or the other branches decide the call, and the leg is not forgotten.
 */
export function sendEarlyBye(ua: SipUserAgent, leg: SipLeg, p: SipDialogRequestParams): void {
  const { req, dest } = inDialogRequest(ua, leg, p);
  leg.log.info({ tag: p.remoteTag, cseq: p.cseq }, 'BYE in the early dialog of a branch whose answer was refused');
  ua.transactions.request(req, dest, {
    onResponse: (res, source) => {
      leg.peer.heardFrom(source, true);
      if (res.status >= 200) leg.log.debug({ tag: p.remoteTag, status: res.status }, 'BYE of a refused branch\'s early dialog answered');
    },
    onTimeout: () => leg.log.debug({ tag: p.remoteTag }, 'BYE of a refused branch\'s early dialog unanswered'),
  });
}

/**
 * §12.2.1.2: a 481/408 to a request in a branch's early dialog (its PRACK) ends it; the branches
 * machine moves media back to the branch the call then follows (forks.ts). Answered, it ignores this.
 */
function earlyDialogEnded(leg: SipLeg, tag: string | undefined): void {
  if (tag !== undefined && leg.forks?.getSnapshot().status === 'active') leg.forks.send({ type: 'EARLY_ENDED', tag });
}

/**
 * The answer to our offer in an early dialog (an UPDATE's 2xx, RFC 3311 §5.1) of an INVITE we
 * sent: the session of that branch now, and its answer from then on (RFC 3960 §3: media coming
 * back there goes to it). The branches machine moves media to it only if media is at that branch:
 * a 1xx of another may have taken it meanwhile. False when it is not the machine's to place (no
 * branches, or an answer we cannot use: applied as any other, which says why).
 */
function earlySession(ua: SipUserAgent, leg: SipLeg, tag: string | undefined, sdp: string): boolean {
  if (tag === undefined || leg.forks?.getSnapshot().status !== 'active') return false;
  if (inviteAnswerRefusal(ua, leg, sdp) !== undefined) return false;
  leg.forks.send({ type: 'EARLY_SESSION', tag, sdp });
  return true;
}

/** An in-dialog request built from a dialog's state (§12.2.1.1), and the next hop it goes to. */
export function inDialogRequest(ua: SipUserAgent, leg: SipLeg, p: SipDialogRequestParams): { req: SipRequest; dest: Endpoint } {
  const { req, target } = dialogRequest(ua, p, leg.remote, leg.contact());
  return { req, dest: nextHop(leg, p.routeSet, target) };
}

/**
 * The request of `p` (§12.2.1.1): Request-URI the remote target, Route the route set, Via for the
 * transport of `via` (where it goes). Also its target, for the next hop.
 */
export function dialogRequest(ua: SipUserAgent, p: SipDialogRequestParams, via: Endpoint, contact: NameAddr): { req: SipRequest; target: Uri } {
  const target = (p.remoteTarget ? parseUri(p.remoteTarget) : undefined) ?? parseUri(p.remoteUri)!;
  const headers: Array<readonly [string, string]> = [['Allow', ALLOW], ...(p.headers ?? [])];
  const body = p.body;
  const contentType = p.contentType;
  const { requestUri, routes } = routedRequest(target, p.routeSet);
  const req = createRequest({
    method: p.method,
    uri: requestUri,
    from: { uri: parseUri(p.localUri)!, params: new Map(), tag: p.localTag },
    to: { uri: parseUri(p.remoteUri)!, params: new Map(), ...(p.remoteTag ? { tag: p.remoteTag } : {}) },
    callId: p.callId,
    cseq: p.cseq,
    via: ua.viaFor(via),
    contact,
    headers,
    ...(body !== undefined ? { body, contentType } : {}),
  });
  for (const r of routes) req.headers.append('Route', r);
  return { req, target };
}

/** ACK a 2xx to our INVITE or re-INVITE (§13.2.2.4): to the remote target, through the route set. */
export function sendAck2xx(ua: SipUserAgent, leg: SipLeg, res: SipResponse): void {
  const d = leg.dialogState;
  const cseq = res.headers.parsedFirst('CSeq', parseCSeq)!;
  const target = (d.remoteTarget ? parseUri(d.remoteTarget) : undefined) ?? leg.invite?.uri ?? parseUri(d.remoteUri)!;
  // A UAS leg (ACKing the 2xx to its own re-INVITE) has no INVITE of its own: From is the dialog's.
  const from = leg.invite ? parseNameAddr(leg.invite.headers.get('From')!)! : { uri: parseUri(d.localUri)!, params: new Map(), tag: d.localTag };
  const { requestUri, routes } = routedRequest(target, d.routeSet);
  const ack = createRequest({
    method: 'ACK',
    uri: requestUri,
    from,
    to: res.headers.parsedFirst('To', parseNameAddr)!,
    callId: leg.callId,
    cseq: cseq.seq,
    via: ua.viaFor(leg.remote),
  });
  for (const r of routes) ack.headers.append('Route', r);
  ua.transactions.sendStateless(ack, nextHop(leg, d.routeSet, target));
}

/** Host and port of a sip: URI (5060 by default). */
export function uriHostPort(uri: Uri | undefined): { host: string; port: number } | undefined {
  if (!uri || uri.kind !== 'sip') return undefined;
  return { host: uri.host, port: uri.port ?? 5060 };
}

/**
 * Where an in-dialog request goes: the first Route (loose routing) or the remote target, as
 * long as the peer has shown it owns that address; otherwise (a third party's address, or a
 * name: no DNS on the hot path) to the address it sent from. See peer.ts.
 */
function nextHop(leg: SipLeg, routeSet: readonly string[], target: Uri): Endpoint {
  // Over TCP/TLS the dialog's requests follow its flow: the connection its INVITE used.
  if (leg.remote.transport !== undefined) return leg.remote;
  const route = routeSet[0];
  const na = route ? parseNameAddr(route) : undefined;
  const hp = uriHostPort(na?.uri) ?? uriHostPort(target);
  const dest = leg.peer.destination(hp, leg.latchedMedia());
  if (hp && (dest.address !== hp.host || dest.port !== hp.port)) {
    leg.log.debug({ nextHop: hp, sentTo: dest }, 'next hop not proven to be the peer: sent to the address it used');
  }
  return dest;
}
