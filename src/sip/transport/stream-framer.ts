// Message framing on a stream transport (RFC 3261 §18.3, §7.5; RFC 5626 §3.5.1 keep-alive). Pure:
// bytes in, events out, no sockets or clocks, so every split and merge of TCP segments is unit
// tested. A message is its header section (up to the first empty line) plus Content-Length bytes
// of body. Between messages a CRLF CRLF is a keep-alive ping (answered with a CRLF pong by the
// transport) and a lone CRLF is a pong; other stray CRLFs before a start line are ignored (§7.5).
//
// Bounded: a header section that does not end within `maxHeaderBytes`, or a message whose declared
// size exceeds `maxMessageBytes`, is an error (513) and so is an unreadable Content-Length (400):
// the stream cannot be resynchronised after either, so the transport answers if it can and closes.

export interface StreamLimits {
  /** Largest message, header section and body together (default 65 535, as for UDP). */
  maxMessageBytes: number;
  /** Largest header section, start line included (default 16 384). */
  maxHeaderBytes: number;
}

export const DEFAULT_STREAM_LIMITS: Readonly<StreamLimits> = Object.freeze({ maxMessageBytes: 65_535, maxHeaderBytes: 16_384 });

export type FramerEvent =
  | { type: 'message'; bytes: Buffer }
  | { type: 'ping' }
  | { type: 'pong' }
  /** `head`: the message's bytes as far as they were read (at most maxHeaderBytes), to answer from. */
  | { type: 'error'; status: 400 | 513; reason: string; head: Buffer };

const CRLF2 = Buffer.from('\r\n\r\n');
// Content-Length or its compact form, at the start of a header line (§7.3.3, §20.14).
const CONTENT_LENGTH_RE = /\r\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)/gi;

export class StreamFramer {
  private buf: Buffer = Buffer.alloc(0);
  /** Where the search for the end of the header section resumes (no rescans on a slow drip). */
  private scanFrom = 0;
  private failed = false;
  private readonly limits: StreamLimits;

  constructor(limits: Partial<StreamLimits> = {}) {
    this.limits = { ...DEFAULT_STREAM_LIMITS, ...limits };
  }

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.buf.length;
  }

  /** Feed bytes as they arrive; returns what they completed. After an error, nothing more. */
  push(chunk: Buffer): FramerEvent[] {
    if (this.failed) return [];
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: FramerEvent[] = [];
    for (;;) {
      const ev = this.next();
      if (!ev) break;
      out.push(ev);
      if (ev.type === 'error') {
        this.failed = true;
        this.buf = Buffer.alloc(0);
        break;
      }
    }
    return out;
  }

  private consume(n: number): void {
    this.buf = this.buf.subarray(n);
    this.scanFrom = 0;
  }

  private next(): FramerEvent | undefined {
    const b = this.buf;
    // Between messages: keep-alives and stray line ends.
    if (b.length > 0 && b[0] === 13) {
      if (b.length < 2) return undefined;
      if (b[1] !== 10) return this.error(400, 'Bare CR between messages', b);
      if (b.length >= 4 && b[2] === 13 && b[3] === 10) {
        this.consume(4);
        return { type: 'ping' };
      }
      // A lone CRLF: a pong, unless it may be the first half of a ping still in flight.
      if (b.length === 2 || (b.length === 3 && b[2] === 13)) return undefined;
      this.consume(2);
      return { type: 'pong' };
    }
    if (b.length > 0 && b[0] === 10) {
      this.consume(1);
      return this.next();
    }
    if (b.length === 0) return undefined;
    const end = b.indexOf(CRLF2, Math.max(0, this.scanFrom - 3));
    if (end < 0) {
      if (b.length > this.limits.maxHeaderBytes) return this.error(513, 'Header section too large', b.subarray(0, this.limits.maxHeaderBytes));
      this.scanFrom = b.length;
      return undefined;
    }
    const headLen = end + 4;
    if (headLen > this.limits.maxHeaderBytes) return this.error(513, 'Header section too large', b.subarray(0, this.limits.maxHeaderBytes));
    const head = b.subarray(0, headLen);
    const cl = contentLength(head.toString('latin1'));
    if (cl === 'bad') return this.error(400, 'Bad Content-Length', head);
    if (headLen + cl > this.limits.maxMessageBytes) return this.error(513, 'Message too large', head);
    if (b.length < headLen + cl) {
      this.scanFrom = end;
      return undefined;
    }
    // Own the bytes: the parser keeps slices of them, and `buf` may be a big concatenation.
    const bytes = Buffer.from(b.subarray(0, headLen + cl));
    this.consume(headLen + cl);
    return { type: 'message', bytes };
  }

  private error(status: 400 | 513, reason: string, head: Buffer): FramerEvent {
    return { type: 'error', status, reason, head: Buffer.from(head) };
  }
}

/**
 * The declared body length; 0 when absent (§18.3 makes it mandatory on streams, but a message
 * without a body frames the same either way). Several that disagree, or one that is not a decimal
 * number, make the stream unreadable.
 */
function contentLength(head: string): number | 'bad' {
  let value: number | undefined;
  for (const m of head.matchAll(CONTENT_LENGTH_RE)) {
    const text = (m[1] ?? '').trim();
    if (!/^\d{1,9}$/.test(text)) return 'bad';
    const n = Number(text);
    if (value !== undefined && value !== n) return 'bad';
    value = n;
  }
  return value ?? 0;
}
