// What call.sipRequest() refuses before anything is sent (moved out of call.ts to keep it small).
import { headerKey } from '../sip/codec/header-list.js';
import type { CallSipRequestOptions } from './call.js';

/** Methods the call's own machines send: never through sipRequest. */
const OWN_METHODS: ReadonlySet<string> = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'PRACK', 'UPDATE', 'REFER', 'SUBSCRIBE', 'REGISTER']);
/** Headers the dialog writes (§12.2.1.1) or the body defines: never the app's. */
const DIALOG_HEADERS: ReadonlySet<string> = new Set(
  ['Via', 'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'Route', 'Record-Route', 'Max-Forwards', 'Content-Length', 'Content-Type'].map(headerKey),
);

/** The method upper-cased, or a RangeError naming what is wrong with the request. */
export function checkSipRequest(method: string, opts: CallSipRequestOptions): string {
  if (!/^[A-Za-z0-9!%*_+`'~.-]+$/.test(method)) throw new RangeError(`sipRequest: ${JSON.stringify(method)} is not a SIP method`);
  const m = method.toUpperCase();
  if (OWN_METHODS.has(m)) throw new RangeError(`sipRequest: ${m} is sent by the call itself, not by sipRequest`);
  if (opts.body !== undefined && !opts.contentType) throw new RangeError('sipRequest: a body needs a contentType');
  if (opts.contentType !== undefined && /[\r\n]/.test(opts.contentType)) throw new RangeError('sipRequest: contentType must be one line');
  for (const [k, v] of Object.entries(opts.headers ?? {})) {
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(k) || typeof v !== 'string' || /[\r\n]/.test(v)) throw new RangeError(`sipRequest: header ${JSON.stringify(k)} is not a one-line SIP header`);
    if (DIALOG_HEADERS.has(headerKey(k))) throw new RangeError(`sipRequest: header ${k} belongs to the dialog`);
  }
  return m;
}
