// SIP messages counted as they cross the UDP socket, by request method and response status class.
// The transport calls received()/sent() once per message with the bytes it reads or writes: the
// start line's first bytes decide the slot, so counting costs a few byte compares and one integer
// increment — no string, no parse, no label lookup. /metrics reads the arrays at scrape time.

/** Methods counted by name; anything else (unknown or garbage that parsed) is `other`. */
export const SIP_METHODS = ['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'INFO', 'REFER', 'NOTIFY', 'REGISTER', 'PRACK', 'UPDATE', 'SUBSCRIBE', 'MESSAGE', 'other'] as const;
export type SipMethodLabel = (typeof SIP_METHODS)[number];
/** Status classes 1xx..6xx, index 0 = 1xx. */
export const SIP_STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', '6xx'] as const;

const OTHER = SIP_METHODS.length - 1;

function is(buf: Uint8Array, s: string): boolean {
  if (buf.length <= s.length) return false;
  for (let k = 0; k < s.length; k++) if (buf[k] !== s.charCodeAt(k)) return false;
  return buf[s.length] === 0x20;
}

/** Index into SIP_METHODS for a request's bytes. */
export function methodIndex(buf: Uint8Array): number {
  switch (buf[0]) {
    case 0x49: // I
      return is(buf, 'INVITE') ? 0 : is(buf, 'INFO') ? 5 : OTHER;
    case 0x41:
      return is(buf, 'ACK') ? 1 : OTHER;
    case 0x42:
      return is(buf, 'BYE') ? 2 : OTHER;
    case 0x43:
      return is(buf, 'CANCEL') ? 3 : OTHER;
    case 0x4f:
      return is(buf, 'OPTIONS') ? 4 : OTHER;
    case 0x52: // R
      return is(buf, 'REFER') ? 6 : is(buf, 'REGISTER') ? 8 : OTHER;
    case 0x4e:
      return is(buf, 'NOTIFY') ? 7 : OTHER;
    case 0x50:
      return is(buf, 'PRACK') ? 9 : OTHER;
    case 0x55:
      return is(buf, 'UPDATE') ? 10 : OTHER;
    case 0x53:
      return is(buf, 'SUBSCRIBE') ? 11 : OTHER;
    case 0x4d:
      return is(buf, 'MESSAGE') ? 12 : OTHER;
    default:
      return OTHER;
  }
}

/** A response's status class index (0 = 1xx), or -1 when the bytes are no `SIP/2.0 NXX` response. */
export function statusClassIndex(buf: Uint8Array): number {
  // "SIP/2.0 " is 8 bytes; the status code's first digit follows.
  if (buf.length < 12 || buf[0] !== 0x53 || buf[1] !== 0x49 || buf[2] !== 0x50 || buf[3] !== 0x2f) return -1;
  const d = buf[8]! - 0x31;
  return d >= 0 && d <= 5 ? d : -1;
}

export class SipWireCounts {
  readonly requestsIn = new Array<number>(SIP_METHODS.length).fill(0);
  readonly requestsOut = new Array<number>(SIP_METHODS.length).fill(0);
  readonly responsesIn = new Array<number>(SIP_STATUS_CLASSES.length).fill(0);
  readonly responsesOut = new Array<number>(SIP_STATUS_CLASSES.length).fill(0);

  /** A message that parsed (requests and responses alike). */
  received(buf: Uint8Array): void {
    const c = statusClassIndex(buf);
    if (c >= 0) this.responsesIn[c]!++;
    else this.requestsIn[methodIndex(buf)]!++;
  }

  /** A message put on the wire (first sends and retransmissions alike). */
  sent(buf: Uint8Array): void {
    const c = statusClassIndex(buf);
    if (c >= 0) this.responsesOut[c]!++;
    else this.requestsOut[methodIndex(buf)]!++;
  }
}
