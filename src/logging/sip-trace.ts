// --sip-trace: every SIP datagram the transport sends or receives (src/sip/transport/udp.ts
// SipTraceHook) as one structured log line: direction, remote and local address, Call-ID, and
// the message text, so a trace can be grepped by Call-ID next to the call's own log lines.
import type { Logger } from 'pino';
import type { SipTraceHook, SipTraceRecord } from '../sip/transport/udp.js';

/** Where the header section ends (CRLFCRLF), or the whole buffer when it does not. */
function headerEnd(bytes: Buffer): number {
  const i = bytes.indexOf('\r\n\r\n');
  return i < 0 ? bytes.length : i;
}

const CALL_ID = /^(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*$/im;

/**
 * The Call-ID header's value (compact form `i:` too), read from the raw text so that messages the
 * parser refuses are still attributed; undefined when there is none.
 */
export function sipCallId(bytes: Buffer): string | undefined {
  const head = bytes.toString('latin1', 0, Math.min(headerEnd(bytes), 16384));
  const m = CALL_ID.exec(head);
  return m?.[1] || undefined;
}

/** The start line: "INVITE sip:bob@example.com SIP/2.0" or "SIP/2.0 200 OK". */
export function sipStartLine(bytes: Buffer): string {
  const eol = bytes.indexOf('\r\n');
  return bytes.toString('latin1', 0, Math.min(eol < 0 ? bytes.length : eol, 200));
}

export interface SipTraceLine {
  dir: 'in' | 'out';
  remote: string;
  local: string;
  callId?: string;
  bytes: number;
  /** The whole message, CRLFs included. */
  sip: string;
}

export function traceLine(r: SipTraceRecord): SipTraceLine {
  const callId = sipCallId(r.bytes);
  return {
    dir: r.direction,
    remote: `${r.remote.address}:${r.remote.port}`,
    local: `${r.local.address}:${r.local.port}`,
    ...(callId ? { callId } : {}),
    bytes: r.bytes.length,
    sip: r.bytes.toString('utf8'),
  };
}

/**
 * A trace hook logging each message at info on a `component: 'sip-trace'` child: asking for a
 * trace (--sip-trace) is the opt-in, so it shows at the default level.
 */
export function sipTraceLogger(logger: Logger): SipTraceHook {
  const log = logger.child({ component: 'sip-trace' });
  return (r) => {
    const line = traceLine(r);
    log.info(line, `${r.direction === 'in' ? 'recv <-' : 'sent ->'} ${line.remote} ${sipStartLine(r.bytes)}`);
  };
}

/** One hook calling each of `hooks` (trace log and HEP export together); undefined for none. */
export function combineTraceHooks(...hooks: Array<SipTraceHook | undefined>): SipTraceHook | undefined {
  const list = hooks.filter((h): h is SipTraceHook => h !== undefined);
  if (list.length <= 1) return list[0];
  return (r) => {
    for (const h of list) h(r);
  };
}
