// Where a dialog may send: the no-reflection rule (issue 13, finding 2).
//
// A SIP peer names addresses in what it sends (Contact, Record-Route, SDP), and RFC 3261 routes
// in-dialog requests to them. Taken on trust, one INVITE makes this UA send its BYEs (and their
// retransmissions) to any address the sender chooses. So a leg remembers the addresses its peer
// has shown it owns, and the datagrams of the dialog go only there:
//   - the source of the peer's requests and responses (UAS: the INVITE's source; UAC: where we
//     sent the INVITE and where its responses came from; either side: in-dialog requests and ACKs,
//     which carry our tag);
//   - a media address the leg's RTP session has latched (the caller sends RTP from there).
// A next hop (the first Route, or the remote target) whose IP is one of those is used as given,
// port included. Any other next hop — a Contact or Record-Route naming a third address, or a
// host name — keeps its place in the message (Request-URI, Route) but the datagram goes to the
// most recent proven source instead, as an SBC's "fix-contact" does for NATed phones.
//
// The same record counts what proves the peer actually receives what we send (an ACK or request
// echoing our random To tag, a response echoing our branch, RTP sent to the port our SDP gave):
// an unconfirmed peer may be a spoofed source, so retransmission budgets depend on it (see ua.ts).
//
// The leg's RTP session learns the hosts too (hosts()): with strict RTP's default `natSources`, only
// the SDP address's host and these may become a NAT media source (src/media/rtp-latch.ts).
import { isIP } from 'node:net';
import type { Endpoint } from '../transport/udp.js';

/** Distinct sources remembered per leg (a peer that moves, a proxy and the phone behind it). */
const MAX_SOURCES = 4;

export class PeerAddresses {
  /** Most recent first; the first entry is where a next hop nobody proved is sent instead. */
  private readonly sources: Endpoint[];
  /** Messages from the peer that prove it receives ours (see the file comment). */
  confirmations = 0;

  /** `onChange`: called when the sources (or their order) changed, e.g. to pass hosts() on. */
  constructor(
    first: Endpoint,
    private readonly onChange?: () => void,
  ) {
    this.sources = [first];
  }

  /** The peer sent something from `source`; `confirms`: it carried our tag or branch. */
  heardFrom(source: Endpoint, confirms: boolean): void {
    if (confirms) this.confirmations++;
    const i = this.sources.findIndex((s) => s.address === source.address && s.port === source.port);
    if (i === 0) return;
    if (i > 0) this.sources.splice(i, 1);
    this.sources.unshift({ address: source.address, port: source.port });
    if (this.sources.length > MAX_SOURCES) this.sources.length = MAX_SOURCES;
    this.onChange?.();
  }

  /** The distinct IPs the peer sent from, most recent first. */
  hosts(): string[] {
    return [...new Set(this.sources.map((s) => s.address))];
  }

  /** The most recent source the peer sent from (UAC: the INVITE's destination until it answers). */
  get primary(): Endpoint {
    return this.sources[0]!;
  }

  /** Whether `address` (an IP) is one the peer sent from, or its latched media source. */
  owns(address: string, latchedMedia?: string): boolean {
    return address === latchedMedia || this.sources.some((s) => s.address === address);
  }

  /**
   * Where a datagram for `hop` (host and port from a Route or the remote target) actually goes:
   * the hop when its IP is proven, otherwise the most recent proven source.
   */
  destination(hop: { host: string; port: number } | undefined, latchedMedia?: string): Endpoint {
    if (hop && isIP(hop.host) && this.owns(hop.host, latchedMedia)) return { address: hop.host, port: hop.port };
    return this.primary;
  }
}
