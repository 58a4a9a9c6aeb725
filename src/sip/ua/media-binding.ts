// SDP offer/answer ↔ the leg's RTP session, and the RTP session ↔ the call (media leg, events).
import { callMediaLeg } from '../../media/call-media.js';
import { createOffer, isHoldOffer, negotiate, parseRemote, type AudioCodec } from '../codec/sdp.js';
import type { SipLeg } from './legs.js';
import type { SipUserAgent } from './user-agent.js';

export type SdpDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** Our SDP (an offer, or the offer in a 200 to a re-INVITE without one), one version up each time. */
export function buildLocalSdp(leg: SipLeg, direction: SdpDirection = 'sendrecv'): string {
  return createOffer({
    address: leg.ua.advertisedHost,
    port: leg.rtp?.localPort ?? 9,
    codecs: leg.sdp ? [leg.sdp.codec] : leg.ua.codecs,
    telephoneEvent: leg.sdp ? (leg.sdp.telephoneEventPt ?? false) : 101,
    direction,
    sessionId: leg.callId.replace(/\D/g, '').slice(0, 10) || '1',
    sessionVersion: leg.localSdpVersion++,
  });
}

/** An SDP answer (to our offer, in a 2xx or an ACK) sets the codec and where media goes. */
export function applyRemoteSdp(ua: SipUserAgent, leg: SipLeg, sdp: string): void {
  const r = parseRemote(sdp);
  if (!r.ok) {
    leg.log.warn({ reason: r.reason }, 'bad SDP answer');
    return;
  }
  const codec = r.codecs.find((c) => ua.codecs.includes(c.name as AudioCodec));
  if (!codec) return;
  leg.sdp = { codec: codec.name as AudioCodec, telephoneEventPt: r.telephoneEventPt, remote: { address: r.address, port: r.port } };
  leg.rtp?.setCodec(codec.name as AudioCodec, r.telephoneEventPt ?? null);
  if (r.port) leg.rtp?.setRemote(r.address, r.port);
}

/**
 * The offer of a re-INVITE: the answer to send, and whether it puts us on hold; undefined when
 * nothing in it is acceptable (488). Media follows the offer's address.
 */
export function answerReoffer(ua: SipUserAgent, leg: SipLeg, offer: string): { answer: string; hold: boolean } | undefined {
  const n = negotiate(offer, {
    address: ua.advertisedHost,
    port: leg.rtp?.localPort ?? 9,
    supported: leg.sdp ? [leg.sdp.codec] : ua.codecs,
    telephoneEvent: true,
  });
  if (!n.ok) return undefined;
  if (n.remote.port && n.remote.address !== '0.0.0.0') leg.rtp?.setRemote(n.remote.address, n.remote.port);
  return { answer: n.answer, hold: isHoldOffer(offer) };
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
