// RFC 3261 §17 transport constants shared by the four transaction machines. Machine files may
// only `import type` from here (machines/ rule), so the values below are for the runtime and
// tests that build a machine's input; each machine derives its own timers A–M from that input.

/** Transport-level constants every transaction derives its timers from (all in ms). */
export interface SipTimerConfig {
  /** RTT estimate; base of every back-off (RFC 3261 default 500 ms). */
  t1: number;
  /** Cap for non-INVITE request and INVITE response retransmission intervals (default 4 s). */
  t2: number;
  /** Longest a message may linger in the network (default 5 s). */
  t4: number;
  /** TCP/TLS/SCTP: the transport retransmits, so the transaction neither retransmits nor lingers. */
  reliable: boolean;
  /**
   * INVITE server: Timer G copies of a non-2xx final response at most. Left out, every one until
   * Timer H (10 with the default timers), as RFC 3261 has it. A peer that never ACKs may never have
   * sent the INVITE (a spoofed source), so the runtime bounds what it can make us send; a
   * retransmitted INVITE is still answered, one for one, until Timer H.
   */
  finalRetransmits?: number;
}

export const defaultSipTimers: Readonly<SipTimerConfig> = Object.freeze({
  t1: 500,
  t2: 4_000,
  t4: 5_000,
  reliable: false,
});

/**
 * Timer C guards a proxy's forwarded INVITE (§16.6 step 11): a proxy-core concern, not a
 * transaction one, so no transaction machine runs it. Kept here so a future proxy core reads
 * its configuration from the same place.
 */
export const defaultTimerC = 180_000;

/** Lets callers override only what their network needs (e.g. `{ reliable: true }` for TCP). */
export function sipTimerConfig(partial: Partial<SipTimerConfig> = {}): SipTimerConfig {
  return { ...defaultSipTimers, ...partial };
}
