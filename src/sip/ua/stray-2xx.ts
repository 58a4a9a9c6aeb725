// A 2xx to an INVITE we sent that comes after we forgot the call (RFC 3261 §13.2.2.4, RFC 6026):
// a forking proxy's branch answering more than Timer D (32 s) after another branch's refusal, or
// after our CANCEL. No transaction, leg or branches actor is left to match it, yet the far end
// retransmits it until ACKed and then believes in the call (media, billing). Its From tag says
// whether the INVITE was ours (tag-auth.ts): then it is ACKed (each retransmission again) and its
// dialog ended with a BYE, both built as for a losing branch's 2xx (forks.ts). A 2xx whose tag
// does not verify, or that is malformed, is dropped: nothing is ever sent for it.
//
// No-reflection (peer.ts, docs/security.md): the ACK and the BYE go to the Contact or first Route
// only when that IP is the one the 2xx came from, else to the 2xx's source, as a dialog's requests
// do. Sending at all needs a tag only someone who saw our INVITE can have, and its Call-ID.
import { isIP } from 'node:net';
import { formatNameAddr, parseCSeq, parseContact, parseNameAddr, splitTopLevel } from '../codec/headers.js';
import type { SipResponse } from '../codec/message.js';
import { formatUri, type Uri } from '../codec/uri.js';
import type { Endpoint } from '../transport/udp.js';
import { lateDialogRequest } from './forks.js';
import { dialogRequest, uriHostPort } from './in-dialog.js';
import { PeerAddresses } from './peer.js';
import type { SipUserAgent } from './user-agent.js';

/** Call-IDs of forgotten INVITEs whose 2xx got a BYE, remembered at most (see EndedDialogs). */
export const MAX_ENDED_FORGOTTEN = 1024;
/**
 * BYEs per such Call-ID at most: one per branch (To tag) that answered late. Whoever saw our
 * INVITE could otherwise make up To tags and get a BYE transaction (and its retransmissions) each.
 */
export const MAX_ENDED_BRANCHES = 4;

/**
 * The dialogs of forgotten INVITEs that got their BYE, by Call-ID (at most `max` Call-IDs, each
 * for `ttlMs`, at most MAX_ENDED_BRANCHES To tags each), so a retransmitted 2xx gets its ACK but
 * no second BYE. This is no call state (the call is gone): a cache that only saves duplicate BYEs.
 * When it overflows or an entry expires, the worst is one more BYE, which the far end answers 481.
 */
export class EndedDialogs {
  // Insertion order is expiry order (one TTL for all): the oldest entry is always first.
  private readonly byCallId = new Map<string, { expires: number; tags: string[] }>();

  constructor(
    private readonly max: number,
    private readonly ttlMs: number,
  ) {}

  get size(): number {
    return this.byCallId.size;
  }

  /**
   * Whether the dialog (Call-ID, To tag) should get its BYE now: it is new, or its entry expired,
   * and its Call-ID has not had MAX_ENDED_BRANCHES already. Remembered from `now` either way.
   */
  add(callId: string, tag: string, now = Date.now()): boolean {
    for (const [k, e] of this.byCallId) {
      if (e.expires > now) break;
      this.byCallId.delete(k);
    }
    const e = this.byCallId.get(callId);
    if (e) {
      if (e.tags.includes(tag) || e.tags.length >= MAX_ENDED_BRANCHES) return false;
      e.tags.push(tag);
      return true;
    }
    this.byCallId.set(callId, { expires: now + this.ttlMs, tags: [tag] });
    if (this.byCallId.size > this.max) this.byCallId.delete(this.byCallId.keys().next().value!);
    return true;
  }
}

/** What a 2xx must carry to be ACKed and sent a BYE; undefined when it is not ours or not usable. */
function validate(ua: SipUserAgent, res: SipResponse) {
  if (res.status < 200 || res.status >= 300 || res.headers.parsedFirst('CSeq', parseCSeq)?.method !== 'INVITE') return undefined;
  const callId = res.headers.get('Call-ID');
  const from = res.headers.parsedFirst('From', parseNameAddr);
  if (!callId || !from?.tag || !ua.tags.verify(from.tag, callId)) return undefined;
  const to = res.headers.parsedFirst('To', parseNameAddr);
  if (!to?.tag) return undefined;
  const contactValue = res.headers.get('Contact');
  const contact = contactValue ? parseContact(contactValue) : undefined;
  if (!contact || contact.star || !uriHostPort(contact.uri)) return undefined;
  // Every Record-Route entry a SIP URI: the BYE's route set is made of them.
  const routes = res.headers.getAll('Record-Route').flatMap((v) => splitTopLevel(v));
  if (!routes.every((r) => parseNameAddr(r)?.uri.kind === 'sip')) return undefined;
  return { callId, from, to: { ...to, tag: to.tag } };
}

/**
 * Where the ACK and BYE go: over TCP/TLS back on the 2xx's connection; over UDP to the first
 * Route or the Contact when the 2xx came from that IP, otherwise to the 2xx's source.
 */
function destination(source: Endpoint, routeSet: readonly string[], target: Uri): Endpoint {
  if (source.transport !== undefined) return source;
  const route = routeSet[0];
  const hp = uriHostPort(route ? parseNameAddr(route)?.uri : target);
  return new PeerAddresses(source).destination(hp && isIP(hp.host) ? hp : undefined);
}

/** A stray 2xx to an INVITE (no transaction, no leg): ACKed and ended with a BYE when its From tag is ours. */
export function onForgotten2xx(ua: SipUserAgent, res: SipResponse, source: Endpoint): void {
  try {
    endForgotten(ua, res, source);
  } catch (err) {
    // Called from the transport's receive path, where a throw would take the process down.
    ua.log.warn({ err, callId: res.headers.get('Call-ID') }, 'a forgotten INVITE\'s 2xx could not be answered: dropped');
  }
}

function endForgotten(ua: SipUserAgent, res: SipResponse, source: Endpoint): void {
  const ok = validate(ua, res);
  if (!ok) {
    if (res.status >= 200 && res.status < 300) ua.stats.stray2xxDropped++;
    return;
  }
  const { callId, from, to } = ok;
  const dialog = { callId, localTag: from.tag!, localUri: formatUri(from.uri), remoteUri: formatUri(to.uri), secure: false };
  const contact = { uri: ua.contactUri(source.transport), params: new Map() };
  const ackParams = lateDialogRequest(dialog, res, 'ACK');
  if (!ackParams) return;
  const ack = dialogRequest(ua, ackParams, source, contact);
  const dest = destination(source, ackParams.routeSet, ack.target);
  ack.req.headers.set('From', formatNameAddr(from)); // as the INVITE had it (display name too)
  ua.transactions.sendStateless(ack.req, dest);
  // One BYE per dialog (Call-ID and To tag: each branch is its own), however often the 2xx comes.
  if (!ua.endedForgotten.add(callId, to.tag)) {
    ua.log.debug({ callId, tag: to.tag }, 'a forgotten INVITE\'s 2xx again: ACKed again');
    return;
  }
  const byeParams = lateDialogRequest(dialog, res, 'BYE');
  if (!byeParams) return;
  ua.stats.forgotten2xxEnded++;
  ua.log.info({ callId, tag: to.tag, source }, 'a 2xx to an INVITE already forgotten (RFC 6026): ACKed and ended with a BYE');
  const bye = dialogRequest(ua, byeParams, source, contact);
  ua.transactions.request(bye.req, dest, {
    onResponse: (r) => {
      if (r.status >= 200) ua.log.debug({ callId, tag: to.tag, status: r.status }, 'BYE of a forgotten INVITE\'s 2xx answered');
    },
  });
}
