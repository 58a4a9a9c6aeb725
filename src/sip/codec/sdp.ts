import { isIPv6 } from 'node:net';
import * as sdpTransform from 'sdp-transform';
import { randomUint16, randomUint32 } from '../../random.js';
import { formatSdesKey, parseSdesKey, SRTP_SUITES, type SrtpSuite } from '../../media/rtp/srtp.js';
import type { MediaDescription, SessionDescription } from 'sdp-transform';

export type AudioCodec = 'PCMU' | 'PCMA';
/** SRTP by SDES (RFC 4568): never, when the peer offers or accepts it, or always (else 488). */
export type SrtpMode = 'off' | 'optional' | 'required';
export const SRTP_MODES: readonly SrtpMode[] = ['off', 'optional', 'required'];
export type MediaProtocol = 'RTP/AVP' | 'RTP/SAVP';

/** One `a=crypto` line (RFC 4568 §9.1) of a suite we support; key is key||salt (30 bytes). */
export interface SdesCrypto {
  tag: number;
  suite: SrtpSuite;
  key: Buffer;
}
export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** RFC 3551 static payload types we can name without an rtpmap. */
const STATIC_PT: Readonly<Record<number, { name: string; rate: number }>> = {
  0: { name: 'PCMU', rate: 8000 },
  3: { name: 'GSM', rate: 8000 },
  4: { name: 'G723', rate: 8000 },
  8: { name: 'PCMA', rate: 8000 },
  9: { name: 'G722', rate: 8000 },
  18: { name: 'G729', rate: 8000 },
};
const CODEC_PT: Readonly<Record<AudioCodec, number>> = { PCMU: 0, PCMA: 8 };
const DEFAULT_TELEPHONE_EVENT_PT = 101;

export interface RemoteCodec {
  pt: number;
  /** Encoding name as the peer wrote it, upper-cased for comparison. */
  name: string;
  rate: number;
}

export interface RemoteAudio {
  ok: true;
  address: string;
  port: number;
  codecs: RemoteCodec[];
  telephoneEventPt?: number;
  direction: Direction;
  ptime?: number;
  /** RTP/SAVP (or SAVPF): the offerer asks for SRTP. */
  secure: boolean;
  /** Its usable `a=crypto` lines in its order (unsupported suites, MKIs, session parameters left out). */
  crypto: SdesCrypto[];
}

export type RemoteSdpResult = RemoteAudio | { ok: false; reason: string };

export interface OfferOptions {
  address: string;
  port: number;
  codecs: readonly AudioCodec[];
  /** RTP payload type for RFC 4733 events; `false` leaves DTMF out. */
  telephoneEvent?: number | false;
  direction?: Direction;
  sessionId?: string;
  sessionVersion?: number;
  ptime?: number;
  /** `a=crypto` lines to offer (SDES); the m= line says RTP/SAVP when `protocol` does. */
  crypto?: readonly SdesCrypto[];
  protocol?: MediaProtocol;
}

function ipVersion(address: string): 4 | 6 {
  return isIPv6(address) ? 6 : 4;
}

function newSessionId(): string {
  // NTP-style numeric ids are what most stacks emit; staying numeric avoids strict parsers choking.
  // 47 random bits from the shared pool (crypto.randomInt crosses into C++ on every call); never 0.
  return String(randomUint32() * 0x8000 + (randomUint16() & 0x7fff) || 1);
}

function audioMedia(o: {
  port: number;
  address?: string;
  pts: readonly number[];
  names: ReadonlyMap<number, { name: string; rate: number }>;
  telephoneEventPt?: number;
  direction: Direction;
  ptime?: number;
  protocol?: MediaProtocol;
  crypto?: readonly SdesCrypto[];
}): MediaDescription {
  const payloads = [...o.pts];
  const rtp = payloads.map((pt) => {
    const n = o.names.get(pt) ?? STATIC_PT[pt] ?? { name: 'unknown', rate: 8000 };
    return { payload: pt, codec: n.name, rate: n.rate };
  });
  const fmtp: MediaDescription['fmtp'] = [];
  if (o.telephoneEventPt !== undefined) {
    payloads.push(o.telephoneEventPt);
    rtp.push({ payload: o.telephoneEventPt, codec: 'telephone-event', rate: 8000 });
    fmtp.push({ payload: o.telephoneEventPt, config: '0-16' });
  }
  const m: MediaDescription = {
    type: 'audio',
    port: o.port,
    protocol: o.protocol ?? 'RTP/AVP',
    payloads: payloads.join(' '),
    rtp,
    fmtp,
    direction: o.direction,
  };
  if (o.crypto?.length) m.crypto = o.crypto.map((c) => ({ id: c.tag, suite: c.suite, config: formatSdesKey(c.key) }));
  if (o.ptime !== undefined) m.ptime = o.ptime;
  return m;
}

/**
 * The m= section of a stream we describe: what audioMedia() builds, or a rejected stream's slot.
 * Only these fields are written (see writeSession).
 */
type LocalMediaDescription = Pick<MediaDescription, 'type' | 'port' | 'protocol' | 'payloads' | 'rtp' | 'fmtp' | 'ptime' | 'direction' | 'crypto'>;

/**
 * Writes the session descriptions this module builds: byte for byte what sdp-transform's write()
 * makes of the same object (RFC 4566 line order, its attribute order: rtpmap, fmtp, crypto,
 * ptime, direction), without its generic grammar walk, which was the largest SDP cost of a call.
 * test/unit/sdp.test.ts checks the two agree.
 */
export function writeSession(address: string, sessionId: string, sessionVersion: number, media: readonly LocalMediaDescription[]): string {
  const v = ipVersion(address);
  let out = `v=0\r\no=- ${sessionId} ${Number(sessionVersion)} IN IP${v} ${address}\r\ns=-\r\nc=IN IP${v} ${address}\r\nt=0 0\r\n`;
  for (const m of media) {
    out += `m=${m.type} ${Number(m.port)} ${m.protocol} ${m.payloads ?? ''}\r\n`;
    for (const r of m.rtp) {
      out += `a=rtpmap:${Number(r.payload)} ${r.codec}`;
      out += r.encoding ? `/${r.rate}/${r.encoding}\r\n` : r.rate ? `/${r.rate}\r\n` : '\r\n';
    }
    for (const f of m.fmtp) out += `a=fmtp:${Number(f.payload)} ${f.config}\r\n`;
    if (m.crypto) for (const c of m.crypto) out += `a=crypto:${Number(c.id)} ${c.suite} ${c.config}\r\n`;
    if (m.ptime != null) out += `a=ptime:${Number(m.ptime)}\r\n`;
    if (m.direction != null) out += `a=${m.direction}\r\n`;
  }
  return out;
}

function session(address: string, sessionId: string | undefined, sessionVersion: number | undefined, media: LocalMediaDescription[]): string {
  return writeSession(address, sessionId ?? newSessionId(), sessionVersion ?? 1, media);
}

export function createOffer(opts: OfferOptions): string {
  const te = opts.telephoneEvent === false ? undefined : (opts.telephoneEvent ?? DEFAULT_TELEPHONE_EVENT_PT);
  const media = audioMedia({
    port: opts.port,
    pts: [...new Set(opts.codecs)].map((c) => CODEC_PT[c]),
    names: new Map(),
    ...(te === undefined ? {} : { telephoneEventPt: te }),
    direction: opts.direction ?? 'sendrecv',
    ptime: opts.ptime ?? 20,
    ...(opts.protocol ? { protocol: opts.protocol } : {}),
    ...(opts.crypto ? { crypto: opts.crypto } : {}),
  });
  return session(opts.address, opts.sessionId, opts.sessionVersion, [media]);
}

function safeParse(sdp: string): SessionDescription | undefined {
  if (!/^v=0\r?$/m.test(sdp)) return undefined;
  try {
    return sdpTransform.parse(sdp);
  } catch {
    return undefined;
  }
}

function codecsOf(m: MediaDescription): RemoteCodec[] {
  // sdp-transform hands back a number (not the typed string) when there is a single payload.
  const pts = String(m.payloads ?? '')
    .trim()
    .split(/\s+/)
    .filter((p) => /^\d{1,3}$/.test(p))
    .map(Number)
    .filter((pt) => pt <= 127);
  const out: RemoteCodec[] = [];
  for (const pt of pts) {
    const map = m.rtp.find((r) => r.payload === pt);
    if (map) out.push({ pt, name: map.codec.toUpperCase(), rate: map.rate ?? 8000 });
    else if (STATIC_PT[pt]) out.push({ pt, ...STATIC_PT[pt] });
  }
  return out;
}

function cryptoOf(m: MediaDescription): SdesCrypto[] {
  const out: SdesCrypto[] = [];
  for (const c of m.crypto ?? []) {
    // Session parameters (UNENCRYPTED_SRTP, KDR=, ...) change the transform: not supported.
    if (c.sessionConfig !== undefined || !SRTP_SUITES.includes(c.suite as SrtpSuite)) continue;
    if (!Number.isInteger(c.id) || c.id < 0 || c.id > 999_999_999) continue;
    const key = parseSdesKey(c.config);
    if (key) out.push({ tag: c.id, suite: c.suite as SrtpSuite, key });
  }
  return out;
}

function pickAudio(desc: SessionDescription): { index: number; media: MediaDescription } | undefined {
  const index = desc.media.findIndex((m) => m.type === 'audio' && m.port > 0 && /^RTP\/(S?AVP|AVPF)$/i.test(m.protocol));
  const media = desc.media[index];
  return media ? { index, media } : undefined;
}

function describeAudio(desc: SessionDescription, media: MediaDescription): RemoteSdpResult {
  const address = media.connection?.ip ?? desc.connection?.ip;
  if (address === undefined) return { ok: false, reason: 'no connection address' };
  // An RTCP port (m= port + 1) must exist too: 65535 would make the session send to port 65536.
  if (!Number.isInteger(media.port) || media.port < 1 || media.port > 65534) return { ok: false, reason: `bad media port ${media.port}` };
  const codecs = codecsOf(media);
  const te = codecs.find((c) => c.name === 'TELEPHONE-EVENT' && c.rate === 8000);
  const r: RemoteAudio = {
    ok: true,
    address,
    port: media.port,
    codecs: codecs.filter((c) => c.name !== 'TELEPHONE-EVENT'),
    direction: media.direction ?? desc.direction ?? 'sendrecv',
    secure: /^RTP\/SAVPF?$/i.test(media.protocol),
    crypto: cryptoOf(media),
  };
  if (te) r.telephoneEventPt = te.pt;
  if (media.ptime !== undefined) r.ptime = media.ptime;
  return r;
}

/**
 * A remote description parsed once: its audio stream for the caller's decisions, and the whole
 * session for negotiate() (which must answer every m-line), so an offer is not parsed twice.
 */
export interface ParsedRemote {
  readonly audio: RemoteAudio;
  readonly desc: SessionDescription;
  readonly index: number;
}

/** Parses a remote description and reads its first active RTP audio stream. */
export function parseRemoteSdp(sdp: string): { ok: true; parsed: ParsedRemote } | { ok: false; reason: string } {
  const desc = safeParse(sdp);
  if (!desc) return { ok: false, reason: 'not an SDP session description' };
  const audio = pickAudio(desc);
  if (!audio) return { ok: false, reason: 'no active RTP audio stream' };
  const remote = describeAudio(desc, audio.media);
  if (!remote.ok) return remote;
  return { ok: true, parsed: { audio: remote, desc, index: audio.index } };
}

/** Reads the first active RTP audio stream of a remote description. */
export function parseRemote(sdp: string): RemoteSdpResult {
  const r = parseRemoteSdp(sdp);
  return r.ok ? r.parsed.audio : r;
}

export interface LocalMedia {
  address: string;
  port: number;
  /** In order of our preference when the offer leaves the choice open. */
  supported: readonly AudioCodec[];
  telephoneEvent: boolean;
  /** What we are willing to do; the answer never exceeds what the offer allows. */
  direction?: Direction;
  sessionId?: string;
  sessionVersion?: number;
  ptime?: number;
  /** SDES: the mode, and our key||salt for the answer's `a=crypto` when one is chosen. */
  srtp?: { mode: SrtpMode; key: Buffer };
}

/** The SDES keys an answer agreed on: the offer's line (tag, suite, its key), our key, the profile. */
export interface SrtpAgreement {
  tag: number;
  suite: SrtpSuite;
  localKey: Buffer;
  remoteKey: Buffer;
  /** RTP/SAVP when the offer said so; best-effort SDES stays RTP/AVP. */
  protocol: MediaProtocol;
}

export type NegotiationResult =
  | {
      ok: true;
      answer: string;
      chosen: { pt: number; name: AudioCodec };
      telephoneEventPt?: number;
      remote: { address: string; port: number };
      direction: Direction;
      srtp?: SrtpAgreement;
    }
  | { ok: false; status: 488; reason: string };

const sends = (d: Direction): boolean => d === 'sendrecv' || d === 'sendonly';
const receives = (d: Direction): boolean => d === 'sendrecv' || d === 'recvonly';

/** RFC 3264 §6.1: mirror the offer's direction from our side, limited by what we want. */
export function answerDirection(offer: Direction, local: Direction = 'sendrecv'): Direction {
  const weSend = receives(offer) && sends(local);
  const weReceive = sends(offer) && receives(local);
  if (weSend && weReceive) return 'sendrecv';
  if (weSend) return 'sendonly';
  if (weReceive) return 'recvonly';
  return 'inactive';
}

/**
 * Answers an offer with one audio codec (plus telephone-event), rejecting every other stream.
 * The offer is SDP text or what parseRemoteSdp() already made of it.
 */
export function negotiate(offer: string | ParsedRemote, local: LocalMedia): NegotiationResult {
  let desc: SessionDescription;
  let audioIndex: number;
  let remote: RemoteAudio;
  if (typeof offer === 'string') {
    const parsed = safeParse(offer);
    if (!parsed) return { ok: false, status: 488, reason: 'Unparseable SDP offer' };
    const audio = pickAudio(parsed);
    if (!audio) return { ok: false, status: 488, reason: 'No active RTP audio stream in offer' };
    const r = describeAudio(parsed, audio.media);
    if (!r.ok) return { ok: false, status: 488, reason: r.reason };
    desc = parsed;
    audioIndex = audio.index;
    remote = r;
  } else {
    desc = offer.desc;
    audioIndex = offer.index;
    remote = offer.audio;
  }
  // The offer's order expresses the offerer's preference, which RFC 3264 §6.1 asks us to honour.
  const match = remote.codecs.find(
    (c): c is RemoteCodec & { name: AudioCodec } =>
      (c.name === 'PCMU' || c.name === 'PCMA') && c.rate === 8000 && local.supported.includes(c.name),
  );
  if (!match) return { ok: false, status: 488, reason: 'No common audio codec' };
  const sec = chooseCrypto(remote, local.srtp);
  if (!sec.ok) return { ok: false, status: 488, reason: sec.reason };
  const te = local.telephoneEvent ? remote.telephoneEventPt : undefined;
  const direction = answerDirection(remote.direction, local.direction);
  const media = desc.media.map((m, i): LocalMediaDescription => {
    if (i !== audioIndex) {
      // A rejected stream keeps its slot (port 0) so m-lines stay aligned with the offer (§6).
      return { type: m.type, port: 0, protocol: m.protocol, payloads: String(m.payloads ?? '0'), rtp: [], fmtp: [] };
    }
    return audioMedia({
      port: local.port,
      pts: [match.pt],
      names: new Map([[match.pt, { name: match.name, rate: 8000 }]]),
      ...(te === undefined ? {} : { telephoneEventPt: te }),
      direction,
      ptime: local.ptime ?? remote.ptime ?? 20,
      // The answer keeps the offer's profile (best-effort SDES answers RTP/AVP with a=crypto).
      protocol: remote.secure ? 'RTP/SAVP' : 'RTP/AVP',
      ...(sec.agreement ? { crypto: [{ tag: sec.agreement.tag, suite: sec.agreement.suite, key: sec.agreement.localKey }] } : {}),
    });
  });
  const result: NegotiationResult = {
    ok: true,
    answer: session(local.address, local.sessionId, local.sessionVersion, media),
    chosen: { pt: match.pt, name: match.name },
    remote: { address: remote.address, port: remote.port },
    direction,
  };
  if (te !== undefined) result.telephoneEventPt = te;
  if (sec.agreement) result.srtp = sec.agreement;
  return result;
}

/**
 * RFC 4568 §7.1.2: answer with the first offered crypto line we support. An RTP/SAVP offer needs
 * one (and SRTP on); with `required` an offer without one is refused; `off` ignores a=crypto on
 * RTP/AVP offers, as before.
 */
export function chooseCrypto(
  remote: Pick<RemoteAudio, 'secure' | 'crypto'>,
  srtp: { mode: SrtpMode; key: Buffer } | undefined,
): { ok: true; agreement?: SrtpAgreement } | { ok: false; reason: string } {
  const mode = srtp?.mode ?? 'off';
  if (mode === 'off') return remote.secure ? { ok: false, reason: 'SRTP not enabled' } : { ok: true };
  const c = remote.crypto[0];
  if (c) return { ok: true, agreement: { tag: c.tag, suite: c.suite, localKey: srtp!.key, remoteKey: c.key, protocol: remote.secure ? 'RTP/SAVP' : 'RTP/AVP' } };
  if (remote.secure) return { ok: false, reason: 'No supported crypto suite' };
  if (mode === 'required') return { ok: false, reason: 'SRTP required' };
  return { ok: true };
}

/** Recognises both hold styles: a sendonly/inactive stream (RFC 3264 §8.4) and the legacy c=0.0.0.0. */
export function isHoldOffer(sdp: string): boolean {
  const r = parseRemote(sdp);
  if (!r.ok) return false;
  return r.direction === 'sendonly' || r.direction === 'inactive' || r.address === '0.0.0.0' || r.address === '::';
}
