// SDP offer/answer ↔ the leg's RTP session, and the RTP session ↔ the call (media leg, events).
// SDES (RFC 4568) keys are chosen here too: what we offer, what the answer picked, rekeying.
import { randomBytes } from 'node:crypto';
import { callMediaLeg } from '../../media/call-media.js';
import type { RtpSession } from '../../media/rtp/session.js';
import { SRTP_MASTER_KEY_LENGTH, SRTP_MASTER_SALT_LENGTH, SRTP_SUITES } from '../../media/rtp/srtp.js';
import {
  createOffer, isHoldOffer, negotiate, parseRemote,
  type AudioCodec, type MediaProtocol, type RemoteAudio, type SdesCrypto, type SrtpAgreement, type SrtpMode,
} from '../codec/sdp.js';
import type { SipLeg } from './legs.js';
import type { SipUserAgent } from './user-agent.js';

export type SdpDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

const newSrtpKey = (): Buffer => randomBytes(SRTP_MASTER_KEY_LENGTH + SRTP_MASTER_SALT_LENGTH);

function srtpMode(ua: SipUserAgent): SrtpMode {
  return ua.opts.srtp ?? 'off';
}

/**
 * The a=crypto lines and profile of an offer: the agreed suite and our key once negotiated, else
 * (SRTP on) one fresh key per suite, kept on the leg until the answer picks one. `required`
 * offers RTP/SAVP; `optional` offers RTP/AVP with a=crypto (best-effort SDES, which peers
 * without SRTP ignore).
 */
function offerSecurity(leg: SipLeg): { crypto?: SdesCrypto[]; protocol?: MediaProtocol } {
  const agreed = leg.sdp?.srtp;
  if (agreed) return { crypto: [{ tag: agreed.tag, suite: agreed.suite, key: agreed.localKey }], protocol: agreed.protocol };
  const mode = srtpMode(leg.ua);
  if (mode === 'off') return {};
  leg.srtpOffer ??= SRTP_SUITES.map((suite, i) => ({ tag: i + 1, suite, key: newSrtpKey() }));
  return { crypto: leg.srtpOffer, protocol: mode === 'required' ? 'RTP/SAVP' : 'RTP/AVP' };
}

/** The `srtp` option of negotiate() when answering an offer on this UA. */
export function srtpAnswer(ua: SipUserAgent, leg?: SipLeg): { srtp?: { mode: SrtpMode; key: Buffer } } {
  const mode = srtpMode(ua);
  return mode === 'off' ? {} : { srtp: { mode, key: leg?.sdp?.srtp?.localKey ?? newSrtpKey() } };
}

/** Keys agreed by an offer/answer: on the leg's record and the RTP session (before any media). */
export function useSrtp(leg: SipLeg, rtp: RtpSession | undefined, agreement: SrtpAgreement | undefined): void {
  if (!agreement) return;
  if (leg.sdp) leg.sdp.srtp = agreement;
  leg.srtpOffer = undefined;
  rtp?.setSrtp({ suite: agreement.suite, localKey: agreement.localKey, remoteKey: agreement.remoteKey });
}

/**
 * The o= line's session id and the next version (RFC 3264 §5, §8): one session per leg, its
 * version one up with every description we send, offer or answer, so a changed answer (to a
 * re-INVITE or an early UPDATE) is told apart from a repeated one.
 */
export function sdpOrigin(leg: SipLeg): { sessionId: string; sessionVersion: number } {
  return { sessionId: leg.callId.replace(/\D/g, '').slice(0, 10) || '1', sessionVersion: leg.localSdpVersion++ };
}

/**
 * Our SDP (an offer, or the offer in a 200 to a re-INVITE without one), one version up each time:
 * the codec in use once negotiated, unless `codecs` (call.update()) lists others.
 */
export function buildLocalSdp(leg: SipLeg, direction: SdpDirection = 'sendrecv', codecs?: readonly AudioCodec[]): string {
  return createOffer({
    ...offerSecurity(leg),
    address: leg.ua.advertisedHost,
    port: leg.rtp?.localPort ?? 9,
    codecs: codecs ?? (leg.sdp ? [leg.sdp.codec] : leg.ua.codecs),
    telephoneEvent: leg.sdp ? (leg.sdp.telephoneEventPt ?? false) : 101,
    direction,
    ...sdpOrigin(leg),
  });
}

/**
 * Whether this SDP from the peer is older than one we took (RFC 3264 §8: same o= session, lower
 * version): the INVITE's 2xx repeating the answer of a reliable 183 after an early UPDATE changed
 * it. Records the origin of any other.
 */
function olderThanTaken(leg: SipLeg, sdp: string): boolean {
  const m = /^o=\S+ (\S+) (\d{1,20})/m.exec(sdp);
  if (!m) return false;
  const origin = { id: m[1]!, version: Number(m[2]) };
  const last = leg.remoteOrigin;
  if (last && last.id === origin.id && origin.version < last.version) return true;
  leg.remoteOrigin = origin;
  return false;
}

/**
 * An SDP answer (to our offer, in a reliable 18x, a 2xx or an ACK) sets the codec and where media
 * goes. `branch`: the answer of another branch of a forked INVITE than the one media followed
 * (forks.ts): another peer, so its o= line is no later version of the last, and its a=crypto picks
 * among those of our INVITE's offer, not the key the other branch agreed. `local`: `sdp` is instead
 * the peer's offer in its early dialog (an UPDATE, RFC 3311 §5.2) and this our answer to it: the
 * codec and a=crypto line (our key) are the ones that answer picked.
 */
export function applyRemoteSdp(ua: SipUserAgent, leg: SipLeg, sdp: string, o: { branch?: boolean; local?: string } = {}): void {
  const r = parseRemote(sdp);
  if (!r.ok) {
    leg.log.warn({ reason: r.reason }, 'bad SDP answer');
    return;
  }
  if (o.branch) leg.remoteOrigin = undefined;
  if (olderThanTaken(leg, sdp)) {
    leg.log.debug('SDP older than the one in use (a repeated early answer): media unchanged');
    return;
  }
  const ours = o.local !== undefined ? parseRemote(o.local) : undefined;
  if (ours && !ours.ok) return;
  const codec = ours ? r.codecs.find((c) => c.name === ours.codecs[0]?.name) : r.codecs.find((c) => ua.codecs.includes(c.name as AudioCodec));
  if (!codec) {
    // (An INVITE's answer like this never gets here: inviteAnswerRefusal. A re-offer's does.)
    leg.log.warn({ codecs: r.codecs.map((c) => c.name) }, 'SDP answer with none of our codecs: media unchanged');
    return;
  }
  // The answer's a=crypto must pick one of the lines we offered (same tag and suite, §7.1.3).
  // (The peer's offer: the line our answer took, with our key.)
  const offered = ours ? ours.crypto : o.branch ? inviteCrypto(leg) : leg.sdp?.srtp ? [{ tag: leg.sdp.srtp.tag, suite: leg.sdp.srtp.suite, key: leg.sdp.srtp.localKey }] : (leg.srtpOffer ?? []);
  const pick = r.crypto.find((c) => offered.some((x) => x.tag === c.tag && x.suite === c.suite));
  const mine = pick && offered.find((x) => x.tag === pick.tag)!;
  // Another branch of a forked INVITE answering in the clear, where SRTP is only optional: media
  // follows it in plain RTP; a return to an SRTP branch picks its keys again from our offer. So
  // too a session whose plain offer we answered in the clear.
  const toPlain = !pick && (ours ? ours.crypto.length === 0 : o.branch === true && srtpMode(ua) === 'optional' && !r.secure);
  if (toPlain && leg.sdp?.srtp) leg.rtp?.setSrtp(null);
  const wasSecure = !toPlain && leg.sdp?.srtp !== undefined;
  if (!pick && (srtpMode(ua) === 'required' || r.secure || wasSecure)) {
    // No media goes out in the clear: the remote is not set, and the call ends once answered.
    leg.log.warn({ mode: srtpMode(ua), profile: r.secure ? 'RTP/SAVP' : 'RTP/AVP' }, 'SDP answer without an acceptable a=crypto: hanging up');
    queueMicrotask(() => leg.call?.hangup('SRTP not negotiated'));
    return;
  }
  const srtp = toPlain ? undefined : leg.sdp?.srtp;
  leg.sdp = { codec: codec.name as AudioCodec, telephoneEventPt: r.telephoneEventPt, remote: { address: r.address, port: r.port }, ...(srtp ? { srtp } : {}) };
  leg.rtp?.setCodec(codec.name as AudioCodec, r.telephoneEventPt ?? null);
  if (pick && mine) {
    const protocol: MediaProtocol = r.secure || srtp?.protocol === 'RTP/SAVP' ? 'RTP/SAVP' : 'RTP/AVP';
    useSrtp(leg, leg.rtp, { tag: pick.tag, suite: pick.suite, localKey: mine.key, remoteKey: pick.key, protocol });
  }
  if (r.port) leg.rtp?.setRemote(r.address, r.port);
}

/**
 * Why an SDP cannot be the answer to our INVITE's offer, if it cannot: unparsable; its audio with
 * none of the codecs we offered (telephone-event aside: media could go nowhere); or no a=crypto
 * picking one of the offer's lines (RFC 4568 §7.1.3) where SRTP is required or the answer is
 * RTP/SAVP. Such an SDP is no branch's answer (forks.ts): the media of a call never goes there.
 */
export function inviteAnswerRefusal(ua: SipUserAgent, leg: SipLeg, sdp: string): string | undefined {
  const r = parseRemote(sdp);
  if (!r.ok) return `bad SDP answer: ${r.reason}`;
  const offer = inviteOffer(leg);
  // (By name, as applyRemoteSdp picks: a peer may renumber a dynamic payload type.)
  const codecs: readonly string[] = offer ? offer.codecs.map((c) => c.name) : ua.codecs;
  if (!r.codecs.some((c) => codecs.includes(c.name) && ua.codecs.includes(c.name as AudioCodec))) return 'no codec in common';
  const offered = offer?.crypto ?? [];
  const picked = r.crypto.some((c) => offered.some((x) => x.tag === c.tag && x.suite === c.suite));
  return !picked && (srtpMode(ua) === 'required' || r.secure) ? 'SRTP not negotiated' : undefined;
}

/** Our INVITE's offer (the one every branch of a forked INVITE answers), as parsed. */
function inviteOffer(leg: SipLeg): RemoteAudio | undefined {
  const offer = leg.invite && parseRemote(leg.invite.body.toString('utf8'));
  return offer?.ok ? offer : undefined;
}

/** The a=crypto lines of our INVITE's offer. */
function inviteCrypto(leg: SipLeg): SdesCrypto[] {
  return inviteOffer(leg)?.crypto ?? [];
}

/**
 * The offer of a re-INVITE or UPDATE: the answer to send, and whether it puts us on hold;
 * undefined when nothing in it is acceptable (488). Media follows the offer's address, and its
 * codec: a re-offer may move to another of ours (RFC 3264 §8.3.2, the offer's order decides).
 */
export function answerReoffer(ua: SipUserAgent, leg: SipLeg, offer: string): { answer: string; hold: boolean } | undefined {
  const n = negotiateOffer(ua, leg, offer);
  if (!n.ok) return undefined;
  // Once encrypted, a re-offer without usable keys is refused rather than taken to plain RTP.
  if (leg.sdp?.srtp && !n.srtp) return undefined;
  useSrtp(leg, leg.rtp, n.srtp);
  // (Only a codec change touches the DTMF payload: a hold offer without telephone-event keeps ours, as before.)
  if (leg.sdp && leg.sdp.codec !== n.chosen.name) {
    leg.sdp.codec = n.chosen.name;
    leg.sdp.telephoneEventPt = n.telephoneEventPt;
    leg.rtp?.setCodec(n.chosen.name, n.telephoneEventPt ?? null);
  }
  if (n.remote.port && n.remote.address !== '0.0.0.0') {
    leg.rtp?.setRemote(n.remote.address, n.remote.port);
    if (leg.sdp) leg.sdp.remote = { address: n.remote.address, port: n.remote.port };
  }
  return { answer: n.answer, hold: isHoldOffer(offer) };
}

/**
 * As the caller, the callee's offer in a branch's early dialog (an UPDATE, RFC 3311 §5.2): our
 * answer (our RTP address and port, the offer's first codec of ours, SDES as configured), or
 * undefined when nothing in it is acceptable (488). Nothing moves here: the branches machine takes
 * media there if it is at that branch (forks.ts, `applyRemoteSdp`'s `local`). `secured`: that
 * branch's session is SRTP now, so an offer in the clear is refused, as for a re-offer.
 */
export function answerBranchOffer(ua: SipUserAgent, leg: SipLeg, offer: string, secured: boolean): string | undefined {
  const n = negotiateOffer(ua, leg, offer);
  if (!n.ok || (secured && !n.srtp)) return undefined;
  return n.answer;
}

/** A peer's offer in a session that already has our RTP port: our answer, from our codecs and SRTP settings. */
function negotiateOffer(ua: SipUserAgent, leg: SipLeg, offer: string): ReturnType<typeof negotiate> {
  return negotiate(offer, {
    address: ua.advertisedHost,
    port: leg.rtp?.localPort ?? 9,
    supported: ua.codecs,
    telephoneEvent: true,
    ...srtpAnswer(ua, leg),
    ...sdpOrigin(leg),
  });
}

/** Whether an SDP (a branch's session) is SRTP: RTP/SAVP, or a=crypto lines. */
export function isSecureSdp(sdp: string): boolean {
  const r = parseRemote(sdp);
  return r.ok && (r.secure || r.crypto.length > 0);
}

/** Attach the leg's RTP session to its call: the media leg, and RTP's events as call events. */
export function bindMedia(ua: SipUserAgent, leg: SipLeg): void {
  const rtp = leg.rtp;
  if (!rtp) return;
  const call = leg.call;
  const driver = ua.calls.driverOf(call);
  if (!driver) return;
  // The call's MediaLeg (echo, playback, recording, bridges attach here). It reads the session's
  // codec live, so it survives setCodec() after an SDP answer; it closes with the session.
  driver.attachMedia({ leg: callMediaLeg(rtp, call.id), stats: () => rtp.stats() });
  rtp.on('started', () => call.actor.send({ type: 'MEDIA.STARTED' }));
  rtp.on('dtmf', (digit: string, durationMs: number) => call.actor.send({ type: 'DTMF', digit, source: 'rfc4733', durationMs }));
  rtp.on('timeout', () => {
    leg.log.info('no RTP received: hanging up');
    call.hangup('rtp timeout');
  });
  // The audio path bypasses the actor: frames go straight to the app's 'audio' listeners.
  rtp.on('audio', (frame: Int16Array) => {
    if (!driver.wantsAudio) return;
    driver.audio(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength));
  });
}
