// The UAC side of an INVITE (RFC 3261 §13.2, §9.1, §22.2): placing a call, its responses, the
// retry with credentials after a 401/407, CANCEL, and ACKs for retransmitted 2xx.
import { lookup, Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Call } from '../../call/call.js';
import { RtpSession } from '../../media/rtp/session.js';
import { buildAuthorization, challengeFromResponse } from '../codec/digest.js';
import { allowSet, contactUriOf, formatNameAddr, parseCSeq, parseNameAddr, type NameAddr } from '../codec/headers.js';
import { resolveSipTargets, type SipDnsResolver } from '../resolve/rfc3263.js';
import { createRequest, generateBranch, type SipRequest, type SipResponse } from '../codec/message.js';
import { formatUri, parseUri, type SipUri, type Uri } from '../codec/uri.js';
import type { Endpoint } from '../transport/udp.js';
import type { SipStreamKind } from '../transport/types.js';
import { uriHostPort } from './in-dialog.js';
import { routedRequest } from './route-set.js';
import { branchAnswered, branchRefused, callRefused, onBranchRefused, onBranchResponse, onInviteReissued } from './forks.js';
import { SipLeg } from './legs.js';
import { onForgotten2xx } from './stray-2xx.js';
import { bindMedia } from './media-binding.js';
import { ALLOW, type OutboundCallOptions } from './options.js';
import { offerHeaders, offerOnInvite, parseMinSE, uacHeaders } from './session-timer.js';
import { inviteHeaders as prackInviteHeaders, onProvisional, repeatedReliable } from './prack.js';
import type { SipUserAgent } from './user-agent.js';

let defaultResolver: SipDnsResolver | undefined;

/** node:dns for NAPTR and SRV; addresses through getaddrinfo, so /etc/hosts (localhost…) still counts. */
function systemResolver(): SipDnsResolver {
  const r = new Resolver();
  const addresses = async (name: string, family: 4 | 6) => (await lookup(name, { family, all: true })).map((a) => a.address);
  return {
    resolveNaptr: (n) => r.resolveNaptr(n),
    resolveSrv: (n) => r.resolveSrv(n),
    resolve4: (n) => addresses(n, 4),
    resolve6: (n) => addresses(n, 6),
  };
}

/**
 * Where an outbound INVITE goes: a numeric host as it is; a name through RFC 3263 (NAPTR, SRV,
 * A), the targets after the first kept for failover on a timeout or a 503 (§4.3).
 */
async function resolve(ua: SipUserAgent, uri: SipUri, hp: { host: string; port: number }, transport: SipStreamKind | undefined): Promise<Endpoint[]> {
  const t = transport ? { transport } : {};
  if (isIP(hp.host)) return [{ address: hp.host, port: hp.port, ...t }];
  const supported = (['udp', 'tcp', 'tls'] as const).filter((k) => k === 'udp' || ua.transport.stream(k));
  const targets = await resolveSipTargets(uri, { resolver: ua.opts.resolver ?? (defaultResolver ??= systemResolver()), supported });
  return targets.map((x) => ({ address: x.address, port: x.port, ...(x.transport === 'udp' ? {} : { transport: x.transport }) }));
}

/** Targets left to try for a leg's INVITE (RFC 3263 §4.3); kept beside the leg, not on it. */
const failoverTargets = new WeakMap<SipLeg, Endpoint[]>();

/**
 * The INVITE again, to the next target (§4.3: identical but for a new Via branch, so a new
 * transaction). False when there is none left: the failure stands.
 */
function failOver(ua: SipUserAgent, leg: SipLeg, why: string): boolean {
  // A call hung up meanwhile only waits for its INVITE's outcome (the session's CANCEL): no new try.
  if (leg.call.isEnded) return false;
  const next = failoverTargets.get(leg)?.shift();
  if (!next || !leg.invite) return false;
  leg.log.info({ failed: leg.remote, next, why }, 'INVITE failed over to the next RFC 3263 target');
  leg.remote = next;
  ua.holdFlow(leg);
  const invite: SipRequest = { ...leg.invite, headers: leg.invite.headers.clone() };
  const via = ua.viaFor(next);
  invite.headers.set('Via', `SIP/2.0/${via.transport} ${via.host}:${via.port};branch=${generateBranch()};rport`);
  invite.headers.set('Contact', formatNameAddr(leg.contact()));
  leg.invite = invite;
  sendInvite(ua, leg);
  return true;
}

/** The transport a target URI asks for (§19.1, §26.2): sips: or ;transport=tls is TLS, ;transport=tcp TCP. */
export function uriTransport(uri: Uri): SipStreamKind | undefined {
  if (uri.kind !== 'sip') return undefined;
  if (uri.scheme === 'sips') return 'tls';
  const t = uri.params.get('transport')?.toLowerCase();
  return t === 'tcp' || t === 'tls' ? t : undefined;
}

/**
 * A preloaded route set (§8.1.2) as the initial INVITE carries it (§12.2.1.1): the Request-URI, the
 * Route values, and the URI whose host the INVITE goes to. Loose routing (`lr` on the first route)
 * keeps the target as Request-URI; a strict router becomes the Request-URI (without what a
 * Request-URI may not hold, §19.1.1) and the target goes last in Route.
 */
function preloadedRoute(target: SipUri, route: readonly string[] | undefined): { requestUri: SipUri; routes: string[]; hopUri: SipUri } {
  if (!route?.length) return { requestUri: target, routes: [], hopUri: target };
  const routes = route.map((r) => r.trim());
  const uris = routes.map((r) => {
    const na = parseNameAddr(r);
    if (!na || na.uri.kind !== 'sip' || !r.includes('<')) throw new Error(`not a SIP route (a name-addr of a sip: or sips: URI): ${r}`);
    return na.uri;
  });
  const hop = uris[0]!;
  const r = routedRequest(target, routes, hop);
  return { requestUri: r.requestUri as SipUri, routes: [...r.routes], hopUri: hop };
}

/** Place an outbound call: RTP session, INVITE with our offer, call and dialog actors, dial. */
export async function placeCall(ua: SipUserAgent, target: string, o: OutboundCallOptions = {}): Promise<Call> {
  const uri = parseUri(target);
  if (!uri || uri.kind !== 'sip') throw new Error(`not a SIP URI: ${target}`);
  // With a route set the INVITE goes to its first hop, over the transport that hop's URI names.
  const { requestUri, routes, hopUri } = preloadedRoute(uri, o.route);
  const hp = uriHostPort(hopUri)!;
  const kind = uriTransport(hopUri);
  const named = hopUri === uri ? target : formatUri(hopUri);
  if (kind && !ua.transport.stream(kind)) throw new Error(`${named} needs SIP over ${kind.toUpperCase()}, which is not configured`);
  if (kind === 'tls' && hopUri.port === undefined) hp.port = 5061;
  const hop = o.nextHop;
  if (hop?.transport && !ua.transport.stream(hop.transport)) throw new Error(`nextHop needs SIP over ${hop.transport.toUpperCase()}, which is not configured`);
  const [dest, ...more] = hop ? [{ address: hop.address, port: hop.port, ...(hop.transport ? { transport: hop.transport } : {}) }] : await resolve(ua, hopUri, hp, kind);
  if (!dest) throw new Error(`no SIP server found for ${named} (RFC 3263: NAPTR/SRV/A)`);
  const callId = ua.newCallId();
  const leg = new SipLeg(ua, 'uac', callId, dest, ua.log);
  if (more.length) failoverTargets.set(leg, more);
  leg.rtp = await RtpSession.create({
    allocator: ua.opts.allocator,
    codec: ua.codecs[0],
    timeoutMs: ua.opts.rtpTimeoutMs ?? 60_000,
    strictRtp: ua.opts.strictRtp,
    signallingAddresses: leg.peer.hosts(),
  });
  const fromUri = parseUri(o.from ?? `sip:callchart@${ua.advertisedHost}:${ua.port}`);
  if (!fromUri) throw new Error(`bad from URI: ${o.from}`);
  const from: NameAddr = { uri: fromUri, params: new Map(), tag: leg.localTag, ...(o.displayName ? { displayName: o.displayName } : {}) };
  const to: NameAddr = { uri, params: new Map() };
  leg.invite = createRequest({
    method: 'INVITE',
    uri: requestUri,
    from,
    to,
    callId,
    cseq: 1,
    via: ua.viaFor(dest),
    contact: leg.contact(),
    headers: [['Allow', ALLOW], ['User-Agent', ua.userAgentName], ...prackInviteHeaders(ua.reliableProvisionals), ...Object.entries(o.headers ?? {})],
    body: leg.localSdp(),
    contentType: 'application/sdp',
  });
  for (const r of routes) leg.invite.headers.append('Route', r);
  leg.creds = o.auth;
  let call: Call;
  try {
    call = ua.calls.create({ callId, direction: 'outbound', transport: 'sip', from: formatUri(fromUri), to: target, wire: leg, group: callId, bindings: { sipCallId: callId } });
  } catch (err) {
    void leg.rtp.close('refused');
    throw err;
  }
  leg.call = call;
  ua.startDialog(leg, { role: 'uac', callId, localTag: leg.localTag, localUri: formatUri(fromUri), remoteUri: formatUri(uri), localCSeq: 1, secure: false });
  // RFC 4028 §7.1: Supported: timer, and the Session-Expires we ask for when configured to.
  offerOnInvite(ua, leg);
  for (const [name, value] of uacHeaders(ua, leg)) leg.invite.headers.append(name, value);
  bindMedia(ua, leg);
  call.actor.send({ type: 'CALL.DIAL' });
  return call;
}

/** Send (or re-send, after an auth challenge) the initial INVITE. */
export function sendInvite(ua: SipUserAgent, leg: SipLeg): void {
  const invite = leg.invite!;
  onInviteReissued(leg);
  ua.transactions.request(invite, leg.remote, {
    onResponse: (res, source) => onInviteResponse(ua, leg, res, source),
    onTimeout: () => {
      if (!failOver(ua, leg, 'timeout')) inviteTimedOut(leg, 408, 'no response to INVITE');
    },
    onTransportError: (err) => {
      if (!failOver(ua, leg, 'transport error')) inviteTimedOut(leg, 503, `transport error: ${String(err)}`);
    },
  });
}

/**
 * No final response will come: the session fails the call, or ends itself when the call was
 * already cancelled; a dialog still waiting for the INVITE's outcome (early, or not yet made) ends.
 */
function inviteTimedOut(leg: SipLeg, status: number, reason: string): void {
  if (leg.session.getSnapshot().status === 'active') leg.session.send({ type: 'INVITE.TIMEOUT', status, reason });
  if (leg.dialog.getSnapshot().status === 'active') leg.dialog.send({ type: 'DIALOG.REJECTED', status });
}

function onInviteResponse(ua: SipUserAgent, leg: SipLeg, res: SipResponse, source: Endpoint): void {
  // It echoed our branch: whoever sent it got our INVITE.
  leg.peer.heardFrom(source, true);
  // RFC 3262 §4: a retransmitted or out-of-order reliable 18x goes no further, not even to the
  // branches machine (it would turn the call's dialog back to that branch's early dialog).
  if (res.status > 100 && res.status < 200 && repeatedReliable(ua, leg, res)) return;
  // A 1xx of a branch whose early dialog our BYE ended (§15): no news, and no PRACK (that dialog is over).
  if (res.status > 100 && res.status < 200 && branchRefused(leg, res)) return;
  // Whether this 18x's early dialog had its answer already (§13.2.1: a later SDP in it is none),
  // asked before the branches machine hears of it.
  const answeredBefore = res.status > 100 && res.status < 200 && branchAnswered(leg, res);
  // Early dialogs (and their early media), the winning 2xx and the 2xx of other branches (a forking proxy): forks.ts.
  const refused = res.status > 100 ? onBranchResponse(ua, leg, res) : undefined;
  if (res.status < 200) {
    // RFC 3262: a reliable 18x is PRACKed (prack.ts) in the early dialog its branch opened just
    // above; a retransmitted or out-of-order one goes no further.
    // (Its SDP answered our offer if it became its branch's answer just now.)
    if (res.status > 100 && !onProvisional(ua, leg, res, !answeredBefore && branchAnswered(leg, res))) return;
    // The session machine reports 18x to the call and lets a waiting CANCEL go (§9.1).
    leg.session.send({ type: 'INVITE.PROVISIONAL', status: res.status });
    // Its answer refused: its early dialog gets a BYE now, after the PRACK (RFC 3262 §4 asks for one).
    if (refused) onBranchRefused(leg, refused);
    return;
  }
  if (res.status < 300) return;
  // Every branch's answer refused: the branches machine failed the call (forks.ts `refuseCall`), no retry.
  if (callRefused(leg)) return;
  if (res.status === 503 && failOver(ua, leg, '503')) return;
  // RFC 4028 §7.3: a 422 names the Min-SE the INVITE goes again with (once; the timer machine decides).
  const minSE = res.status === 422 ? parseMinSE(res.headers.get('Min-SE')) : undefined;
  if (minSE !== undefined && leg.timer?.getSnapshot().can({ type: 'TOO_BRIEF', minSE })) {
    leg.log.info({ minSE }, '422 Session Interval Too Small: INVITE again with the larger interval');
    leg.timer.send({ type: 'TOO_BRIEF', minSE });
    return;
  }
  leg.challenge = leg.creds ? challengeFromResponse(res) : undefined;
  // A challenge the session will answer (once) keeps the dialog for the retried INVITE: rejected
  // here, the dialog would be terminated and the answered call could never send its BYE.
  const retrying = leg.challenge !== undefined && leg.session.getSnapshot().matches({ active: { auth: 'untried' } });
  if (!retrying) leg.dialog.send({ type: 'DIALOG.REJECTED', status: res.status });
  const contacts = res.status < 400 ? res.headers.getAll('Contact').map((c) => contactUriOf(c) ?? c) : undefined;
  // The machine retries once with credentials (§22.2), or reports the refusal.
  leg.session.send({ type: 'INVITE.REJECTED', status: res.status, reason: res.reason, contacts, retryable: leg.challenge !== undefined });
}

/** The INVITE again, with an Authorization answering the challenge of the 401/407 (§22.2). */
export function retryWithAuth(ua: SipUserAgent, leg: SipLeg): void {
  const challenge = leg.challenge;
  const creds = leg.creds;
  leg.challenge = undefined;
  if (!challenge || !creds) return;
  const old = leg.invite!;
  const auth = buildAuthorization({ challenge, method: 'INVITE', uri: formatUri(old.uri), username: creds.username, password: creds.password, body: old.body });
  reissueInvite(ua, leg, [[auth.name, auth.value]]);
}

/** RFC 4028 §7.3: the INVITE again after a 422, with Session-Expires and Min-SE raised to the 422's Min-SE. */
export function resendInviteWithTimer(ua: SipUserAgent, leg: SipLeg, interval: number, minSE: number): void {
  if (leg.invite) reissueInvite(ua, leg, offerHeaders(interval, minSE, 'uac'));
}

/** The initial INVITE again as a new transaction (next CSeq, new branch), with `set` headers replaced. */
function reissueInvite(ua: SipUserAgent, leg: SipLeg, set: ReadonlyArray<readonly [string, string]>): void {
  const old = leg.invite!;
  const cseq = old.headers.parsedFirst('CSeq', parseCSeq)!;
  const invite: SipRequest = { ...old, headers: old.headers.clone() };
  invite.headers.set('CSeq', `${cseq.seq + 1} INVITE`);
  const via = ua.viaFor(leg.remote);
  invite.headers.set('Via', `SIP/2.0/${via.transport} ${via.host}:${via.port};branch=${generateBranch()};rport`);
  for (const [name, value] of set) invite.headers.set(name, value);
  leg.invite = invite;
  leg.dialog.send({ type: 'REQUEST.SEND', method: 'INVITE', cseq: cseq.seq + 1 });
  sendInvite(ua, leg);
}

/** CANCEL the leg's INVITE (§9.1): same branch, same Route, its own transaction. */
export function sendCancel(ua: SipUserAgent, leg: SipLeg): void {
  const invite = leg.invite!;
  const cseq = invite.headers.parsedFirst('CSeq', parseCSeq)!;
  const cancel = createRequest({
    method: 'CANCEL',
    uri: invite.uri,
    from: invite.headers.parsedFirst('From', parseNameAddr)!,
    to: invite.headers.parsedFirst('To', parseNameAddr)!,
    callId: leg.callId,
    cseq: cseq.seq,
    via: { transport: 'UDP', host: ua.advertisedHost },
  });
  cancel.headers.set('Via', invite.headers.get('Via')!); // same branch as the INVITE (§9.1)
  for (const r of invite.headers.getAll('Route')) cancel.headers.append('Route', r);
  ua.transactions.request(cancel, leg.remote, { onResponse: () => {} });
}

/** A 2xx for our INVITE after its transaction ended (§13.2.2.4): ACKed again, or ACKed and ended with a BYE. */
export function onStrayResponse(ua: SipUserAgent, res: SipResponse, source: Endpoint): void {
  const cseq = res.headers.parsedFirst('CSeq', parseCSeq);
  if (!cseq || cseq.method !== 'INVITE' || res.status < 200 || res.status >= 300) return;
  const callId = res.headers.get('Call-ID');
  // A call whose INVITE failed is forgotten, but another branch may still answer it (over TCP
  // past its transaction): its branches machine ACKs and BYEs that 2xx.
  const leg = ua.legs.byCall(callId) ?? (callId ? ua.failedInvites.get(callId)?.leg : undefined);
  // Forgotten altogether: ACKed and sent a BYE if its From tag proves the INVITE ours (stray-2xx.ts).
  if (!leg) return onForgotten2xx(ua, res, source);
  if (leg.role !== 'uac') return;
  leg.peer.heardFrom(source, true);
  // The winner's again: ACKed again; another branch's: ACKed and sent a BYE (forks.ts).
  onBranchResponse(ua, leg, res);
}
