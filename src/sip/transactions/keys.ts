// Matching and addressing (RFC 3261 §17.1.3, §17.2.3, §18.2.2) and the ACK a client transaction
// builds for a non-2xx: pure functions over messages, apart from the layer that uses them.
import { createRequest, responseDestination, type SipRequest, type SipResponse } from '../codec/message.js';
import { parseVia, parseCSeq, parseNameAddr, isRfc3261Branch, type Via } from '../codec/headers.js';
import type { Endpoint } from '../transport/udp.js';

/**
 * Where a response to a request from `source` goes. §18.2.2 and RFC 3581 read it off the top Via
 * (received, rport, sent-by port), but never toward another IP than the request came from:
 * a Via the sender wrote (maddr, a received= it put there itself) must not aim our responses
 * and their retransmissions at a third party. The port may differ (a Via without rport names
 * the sender's listening port on the same host).
 */
export function responseTarget(res: SipResponse, source: Endpoint): Endpoint {
  // Over a stream, back on the connection the request came in on (§18.2.2).
  if (source.transport !== undefined) return source;
  const d = responseDestination(res);
  return d && d.host === source.address ? { address: d.host, port: d.port } : source;
}

export function topVia(msg: SipRequest | SipResponse) {
  return msg.headers.parsedFirst('Via', parseVia);
}

/**
 * §17.2.3 server matching key; falls back to the RFC 2543 key when the branch has no magic cookie.
 * `parsedTopVia` saves parsing the top Via again when the caller already has it.
 */
export function serverKey(req: SipRequest, parsedTopVia?: Via): string | undefined {
  const via = parsedTopVia ?? topVia(req);
  if (!via) return undefined;
  const method = req.method === 'ACK' ? 'INVITE' : req.method;
  if (isRfc3261Branch(via.branch)) return `${via.branch}|${via.host}:${via.port ?? 5060}|${method}`;
  const cseq = req.headers.parsedFirst('CSeq', parseCSeq);
  const from = req.headers.parsedFirst('From', parseNameAddr);
  return `2543|${req.headers.get('Call-ID')}|${from?.tag ?? ''}|${cseq?.seq ?? ''}|${req.headers.get('Via')}|${method}`;
}

/** §17.1.3 client matching key: top Via branch + CSeq method. */
export function clientKey(msg: SipRequest | SipResponse): string | undefined {
  const via = topVia(msg);
  const cseq = msg.headers.parsedFirst('CSeq', parseCSeq);
  if (!via?.branch || !cseq) return undefined;
  const method = cseq.method === 'ACK' ? 'INVITE' : cseq.method;
  return `${via.branch}|${method}`;
}

/** §17.1.1.3: the ACK a client transaction sends for a non-2xx final response. */
export function ackForNon2xx(invite: SipRequest, res: SipResponse): SipRequest {
  const cseq = invite.headers.parsedFirst('CSeq', parseCSeq)!;
  const ack = createRequest({
    method: 'ACK',
    uri: invite.uri,
    from: invite.headers.parsedFirst('From', parseNameAddr)!,
    to: res.headers.parsedFirst('To', parseNameAddr)!,
    callId: invite.headers.get('Call-ID')!,
    cseq: cseq.seq,
    via: { transport: 'UDP', host: '0.0.0.0' },
    maxForwards: 70,
  });
  // Same top Via (branch!) as the INVITE, and the INVITE's Route set.
  ack.headers.set('Via', invite.headers.get('Via')!);
  for (const r of invite.headers.getAll('Route')) ack.headers.append('Route', r);
  return ack;
}
