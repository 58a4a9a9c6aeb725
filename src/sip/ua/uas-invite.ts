// The UAS side of an INVITE (RFC 3261 §13.3, §9.2, §22): admission, digest challenge, the offer,
// the call offered to the app; CANCEL of an INVITE being answered; the ACK of our 2xx.
import { LimitExceededError } from '../../actors/supervisor.js';
import type { Call } from '../../call/call.js';
import { RtpSession } from '../../media/rtp/session.js';
import { generateTag, type SipRequest } from '../codec/message.js';
import { acceptsMediaType, allowSet, contactUriOf, parseCSeq, parseNameAddr, type NameAddr } from '../codec/headers.js';
import { formatUri } from '../codec/uri.js';
import { negotiate, parseRemoteSdp, type AudioCodec, type ParsedRemote } from '../codec/sdp.js';
import type { ServerTransaction } from '../transactions/layer.js';
import type { Endpoint } from '../transport/udp.js';
import { SipLeg } from './legs.js';
import { applyRemoteSdp, bindMedia, sdpOrigin, srtpAnswer, useSrtp } from './media-binding.js';
import { negotiateUas } from './session-timer.js';
import { startReliableUas, uasReliability } from './prack.js';
import type { SipUserAgent } from './user-agent.js';

/** A new INVITE (no To tag). `parsedTo`: the To header as the router already parsed it. */
export function onInvite(ua: SipUserAgent, tx: ServerTransaction, req: SipRequest, parsedTo?: NameAddr): void {
  const { stats, pendingInvites } = ua;
  stats.invitesReceived++;
  // Refusals that must cost nothing (overload, challenges, throttling) are sent statelessly
  // (§8.2.7), before anything is allocated: no transaction retransmits them for 32 s.
  if (pendingInvites.full()) {
    stats.invitesRejectedPending++;
    tx.replyStateless(503, 'Service Unavailable (too many pending calls)', { headers: [['Retry-After', '5']] });
    return;
  }
  if (pendingInvites.fullFor(tx.source.address)) {
    stats.invitesRejectedPendingSource++;
    tx.replyStateless(503, 'Service Unavailable (too many pending calls from this address)', { headers: [['Retry-After', '5']] });
    return;
  }
  const supervisor = ua.opts.supervisor;
  const callLimit = supervisor.limit('call');
  if (callLimit !== undefined && supervisor.count('call') >= callLimit) {
    stats.callsRejectedBusy++;
    tx.replyStateless(503, 'Service Unavailable', { headers: [['Retry-After', '5']] });
    return;
  }
  if (ua.digest && !checkAuth(ua, tx, req)) return;
  const callId = req.headers.get('Call-ID')!;
  if (ua.legs.has(callId)) {
    // A second dialog for the same Call-ID (a forked INVITE reaching us twice): refuse it.
    tx.reply(482, 'Loop Detected');
    return;
  }
  const from = req.headers.parsedFirst('From', parseNameAddr)!;
  const to = parsedTo ?? req.headers.parsedFirst('To', parseNameAddr)!;
  const ct = (req.headers.get('Content-Type') ?? '').toLowerCase();
  const offer = req.body.length ? req.body.toString('utf8') : undefined;
  if (offer !== undefined && !ct.startsWith('application/sdp')) {
    tx.reply(415, 'Unsupported Media Type', { headers: [['Accept', 'application/sdp']] });
    return;
  }
  // Our answer (or offer) is SDP: a peer whose Accept rules it out gets 406 (RFC 3261 §21.4.7).
  if (!acceptsMediaType(req.headers, 'application/sdp')) {
    tx.reply(406, 'Not Acceptable', { headers: [['Accept', 'application/sdp']] });
    return;
  }
  // RFC 4028 §9: a Session-Expires below our Min-SE gets 422 naming it, before anything is allocated.
  const sessionTimer = ua.sessionTimers ? negotiateUas(ua.sessionTimers, req.headers) : undefined;
  if (sessionTimer?.kind === 'too-brief') {
    stats.sessionIntervalsTooSmall++;
    tx.reply(422, 'Session Interval Too Small', { headers: [['Min-SE', String(sessionTimer.minSE)]] });
    return;
  }
  // RFC 3262 §3: reliable 18x when the caller requires them (or, configured 'required', supports them).
  const reliability = uasReliability(ua.reliableProvisionals, req.headers);
  if (reliability === 'extension-required') {
    tx.reply(421, 'Extension Required', { headers: [['Require', '100rel']] });
    return;
  }
  // Pick the codec from the offer before allocating, so the RTP session starts with it.
  let codec: AudioCodec = ua.codecs[0]!;
  // Parsed once: negotiate() below answers from the same parse.
  let parsedOffer: ParsedRemote | undefined;
  if (offer !== undefined) {
    const r = parseRemoteSdp(offer);
    if (!r.ok) {
      tx.reply(400, `Bad SDP: ${r.reason}`.slice(0, 100));
      return;
    }
    parsedOffer = r.parsed;
    const first = parsedOffer.audio.codecs.find((c) => ua.codecs.includes(c.name as AudioCodec));
    if (!first) {
      tx.reply(488, 'Not Acceptable Here');
      return;
    }
    codec = first.name as AudioCodec;
  }

  const leg = new SipLeg(ua, 'uas', callId, tx.source, ua.log);
  leg.inviteTx = tx;
  if (sessionTimer?.kind === 'agree') leg.inviteTimer = sessionTimer;
  pendingInvites.add(leg, tx.source.address);
  const media = { allocator: ua.opts.allocator, codec, timeoutMs: ua.opts.rtpTimeoutMs ?? 60_000, strictRtp: ua.opts.strictRtp, signallingAddresses: leg.peer.hosts() };
  // A rested pooled port pair needs no bind, so the call is offered to the app in this same
  // step: an app that answers synchronously answers before the INVITE's transaction would even
  // need an actor (answered in its first step, see TransactionLayer). Otherwise the pair is bound first.
  const pooled = RtpSession.fromPool(media);
  if (pooled) {
    try {
      offerInvite(ua, leg, pooled, tx, req, from, to, parsedOffer, reliability === 'reliable');
    } catch (err) {
      if (!leg.call) pendingInvites.settle(leg); // onRequest answers 500
      throw err;
    }
    return;
  }
  RtpSession.create(media).then(
    (rtp) => {
      try {
        offerInvite(ua, leg, rtp, tx, req, from, to, parsedOffer, reliability === 'reliable');
      } catch (err) {
        ua.log.error({ err, callId }, 'INVITE handling failed');
        if (tx.finalStatus === undefined) tx.reply(500, 'Server Internal Error');
        if (!leg.call) pendingInvites.settle(leg);
      }
    },
    (err: unknown) => {
      pendingInvites.settle(leg);
      ua.log.warn({ err, callId }, 'no RTP port for call');
      tx.reply(503, 'Service Unavailable', { headers: [['Retry-After', '5']] });
    },
  );
}

/** The INVITE has its RTP session: answer the offer, create the call and dialog, ask the app. */
function offerInvite(
  ua: SipUserAgent,
  leg: SipLeg,
  rtp: RtpSession,
  tx: ServerTransaction,
  req: SipRequest,
  from: NameAddr,
  to: NameAddr,
  parsedOffer: ParsedRemote | undefined,
  reliable: boolean,
): void {
  const callId = leg.callId;
  leg.rtp = rtp;
  let heldByRemote = false;
  if (parsedOffer !== undefined) {
    const n = negotiate(parsedOffer, { address: ua.advertisedHost, port: rtp.localPort, supported: ua.codecs, telephoneEvent: true, ...srtpAnswer(ua), ...sdpOrigin(leg) });
    if (!n.ok) {
      ua.pendingInvites.settle(leg);
      void rtp.close('not acceptable');
      tx.reply(488, 'Not Acceptable Here');
      return;
    }
    leg.answerSdp = n.answer;
    leg.sdp = { codec: n.chosen.name, telephoneEventPt: n.telephoneEventPt, remote: { address: n.remote.address, port: n.remote.port } };
    rtp.setCodec(n.chosen.name, n.telephoneEventPt ?? null);
    useSrtp(leg, rtp, n.srtp);
    // c=0.0.0.0 is an RFC 2543 hold and acceptable; a host name, multicast or broadcast is not.
    if (!rtp.setRemote(n.remote.address, n.remote.port) && n.remote.address !== '0.0.0.0') {
      ua.pendingInvites.settle(leg);
      void rtp.close('not acceptable');
      tx.reply(488, 'Not Acceptable Here', { headers: [['Warning', `305 ${ua.advertisedHost} "Incompatible media format: connection address"`]] });
      return;
    }
    heldByRemote = n.direction === 'recvonly' || n.direction === 'inactive';
  }
  if (tx.finalStatus !== undefined) {
    // CANCELled while we were allocating.
    ua.pendingInvites.settle(leg);
    void rtp.close('cancelled');
    return;
  }

  let call: Call;
  try {
    call = ua.calls.create({
      callId,
      direction: 'inbound',
      transport: 'sip',
      from: from.uri ? formatUri(from.uri) : undefined,
      to: to.uri ? formatUri(to.uri) : undefined,
      wire: leg,
      group: callId,
      bindings: { sipCallId: callId },
      // The header entries are the parser's own immutable objects: kept, not copied one by one.
      sipInvite: Object.freeze({ uri: formatUri(req.uri), headers: Object.freeze([...req.headers]), body: req.body.toString('utf8') }),
    });
  } catch (err) {
    ua.pendingInvites.settle(leg);
    void rtp.close('refused');
    if (err instanceof LimitExceededError) {
      ua.stats.callsRejectedBusy++;
      tx.reply(503, 'Service Unavailable', { headers: [['Retry-After', '5']] });
    } else {
      tx.reply(500, 'Server Internal Error');
    }
    return;
  }
  leg.call = call;
  const cseq = req.headers.parsedFirst('CSeq', parseCSeq)!;
  const contact = req.headers.get('Contact');
  const remoteTarget = contact ? contactUriOf(contact) : undefined;
  ua.startDialog(
    leg,
    {
      role: 'uas',
      callId,
      localTag: leg.localTag,
      localUri: formatUri(to.uri),
      remoteUri: formatUri(from.uri),
      remoteTag: from.tag,
      remoteCSeq: cseq.seq,
      secure: false,
    },
    { heldByRemote },
  );
  // Record-Route of the request becomes the UAS route set (in order).
  const rr = req.headers.getAll('Record-Route');
  if (rr.length || remoteTarget) leg.establishment = { remoteTarget, recordRoute: rr };
  if (reliable) startReliableUas(ua, leg, cseq.seq, parsedOffer === undefined);
  leg.peerAllow = allowSet(req.headers); // (call.update() may ask for UPDATE whatever holdMethod says)
  bindMedia(ua, leg);
  tx.onTimeout = () => call.actor.send({ type: 'CALL.FAILED', code: 408, reason: 'INVITE transaction timed out' });
  leg.originalTx = tx;
  // The session machine holds the 180's early dialog while the app is asked in this step.
  try {
    call.actor.send({ type: 'CALL.INCOMING' });
    if (call.state === 'ringing') ua.calls.offer(call);
  } finally {
    leg.session.send({ type: 'OFFER.END' });
  }
}

/**
 * Digest authentication of an INVITE (RFC 3261 §22.4). The challenge keeps no state (the nonce is
 * signed) and every refusal is stateless; a source that failed too often is refused unchecked.
 */
function checkAuth(ua: SipUserAgent, tx: ServerTransaction, req: SipRequest): boolean {
  const d = ua.digest!;
  const throttle = ua.authThrottle!;
  const source = tx.source.address;
  if (throttle.locked(source)) {
    ua.stats.authThrottled++;
    tx.replyStateless(403, 'Forbidden (too many failed attempts)');
    return false;
  }
  const authorization = req.headers.get('Authorization');
  const challenge = (stale: boolean) => {
    ua.stats.authChallenges++;
    tx.replyStateless(401, 'Unauthorized', { headers: [['WWW-Authenticate', d.challenge({ stale })]] });
  };
  if (!authorization) {
    challenge(false);
    return false;
  }
  const users = ua.opts.auth!.users;
  const v = d.verify({
    method: req.method,
    authorization,
    lookup: typeof users === 'function' ? users : (u) => (Object.hasOwn(users, u) ? users[u] : undefined),
    requestUri: formatUri(req.uri),
    body: req.body,
  });
  if (v.ok) return true;
  if (v.stale) challenge(true);
  else {
    ua.stats.authFailures++;
    const locked = throttle.failed(source);
    ua.log.info({ reason: v.reason, username: v.username, source, locked, callId: req.headers.get('Call-ID') }, 'digest authentication failed');
    tx.replyStateless(403, 'Forbidden');
  }
  return false;
}

/** CANCEL (§9.2): 200 to it, and 487 to the INVITE if that has no final response yet. */
export function onCancel(ua: SipUserAgent, tx: ServerTransaction, req: SipRequest): void {
  const inviteTx = ua.transactions.findInviteFor(req);
  if (!inviteTx) {
    tx.reply(481, 'Call/Transaction Does Not Exist');
    return;
  }
  tx.reply(200, 'OK');
  if (inviteTx.finalStatus !== undefined) return; // too late: the INVITE already has its final
  const leg = ua.legs.byCall(req.headers.get('Call-ID'));
  // The 200 for CANCEL is already on the wire (its transaction sends as it steps); 487 follows.
  inviteTx.reply(487, 'Request Terminated', { toTag: leg?.localTag ?? generateTag() });
  if (leg) {
    leg.inviteTx = undefined;
    leg.rel?.send({ type: 'FINAL' });
    leg.dialog?.send({ type: 'DIALOG.REJECTED', status: 487 });
    // Answered, but the 2xx was waiting for a PRACK (RFC 3262): the call was up for the app, and is over.
    if (leg.call?.isActive) leg.call.actor.send({ type: 'CALL.REMOTE_HANGUP', detail: 'CANCEL before our 2xx went (it waited for a PRACK)' });
    else leg.call?.actor.send({ type: 'CALL.CANCELLED' });
  }
}

/** The ACK of our 2xx (§13.3.1.4): the session machine stops its retransmission and sends a BYE that waited for it. */
export function onAck(ua: SipUserAgent, ack: SipRequest, source: Endpoint): void {
  const to = ack.headers.parsedFirst('To', parseNameAddr);
  const leg = to?.tag ? ua.legs.find(ack, to.tag) : undefined;
  if (!leg) return; // an ACK for nothing we know: silently absorbed (§17.2.3)
  leg.peer.heardFrom(source, true);
  ua.pendingInvites.settle(leg);
  // Delayed offer: the SDP answer arrives in the ACK.
  if (ack.body.length && !leg.sdp) applyRemoteSdp(ua, leg, ack.body.toString('utf8'));
  leg.session.send({ type: 'ACK.RECEIVED' });
}
