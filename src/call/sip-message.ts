// The SIP messages of a call as its handle shows them: the INVITE that made an inbound call, and
// what `call.sipRequest()` sends and resolves with (moved out of call.ts to keep it small).

/** One header line of a SIP message: the name as received (known names in canonical case), its value. */
export interface CallSipHeader {
  readonly name: string;
  readonly value: string;
}

/** What `call.sipRequest()` puts in its request. */
export interface CallSipRequestOptions {
  /** Content-Type of `body` (required with a body). */
  contentType?: string;
  body?: string;
  /** Extra headers (one-line values; the dialog's own headers cannot be replaced). */
  headers?: Record<string, string>;
}

/** The final response to a `call.sipRequest()` (408 when the far end never answered). */
export interface CallSipResponse {
  status: number;
  reason: string;
  headers: readonly CallSipHeader[];
  body: string;
}

/** The INVITE that created an inbound SIP call, as received (read-only). */
export interface CallSipInvite {
  /** The Request-URI. */
  readonly uri: string;
  /** Every header line in order; list headers (Via, Route, …) one entry per element. */
  readonly headers: readonly CallSipHeader[];
  /** The body (the SDP offer, or '' without one). */
  readonly body: string;
}
