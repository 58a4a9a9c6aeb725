// What call.update() takes and gives (a new SDP offer from us in the call's dialog). The types
// live here rather than in call.ts, which is at its size limit; the SIP side is src/sip/ua/reoffer.ts.
import type { AudioCodec } from '../sip/codec/sdp.js';

/** What `call.update()` changes and how it sends the new offer. */
export interface CallUpdateOptions {
  /**
   * `INVITE` (a re-INVITE) or `UPDATE` (RFC 3311; only toward a peer whose Allow names UPDATE).
   * Default: UPDATE when `sip.holdMethod` is `'UPDATE'` and the peer allows it, else INVITE; in
   * the early dialog (the call still ringing, either side) always UPDATE.
   */
  method?: 'INVITE' | 'UPDATE';
  /**
   * The codecs to offer, in order of preference (a subset of the engine's `sip.codecs`); the
   * answer picks one and media switches to it. Default: the codec in use (a session refresh
   * with the same media and a new `o=` version).
   */
  codecs?: AudioCodec[];
}

/** What the answer to `call.update()` settled on: media now follows it. */
export interface CallUpdateResult {
  /** The method the offer went in. */
  method: 'INVITE' | 'UPDATE';
  /** The final status (2xx). */
  status: number;
  /** The codec the answer chose, now the one media uses. */
  codec: AudioCodec;
  /** Where media goes now (the answer's address and port). */
  remote: { address: string; port: number };
}

/**
 * Why `call.update()` failed: the far end refused the offer (`status` 488, 403 …; 408 when it never
 * answered) or the offer was never sent (`status` 0: the call ended or hung up first). The call
 * goes on with the media it had.
 */
export class CallUpdateError extends Error {
  override readonly name = 'CallUpdateError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}
