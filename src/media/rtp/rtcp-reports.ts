// One RTP session's RTCP reporting state (RFC 3550 §6.4): what the peer's SR/RR said about our
// stream (loss, jitter, round-trip time from LSR/DLSR) and the SR or RR we send next. Pure: the
// session hands in its clocks and counters; no sockets here.
import { ntpFromUnixMs, ntpMiddle32, roundTripMs, type RtcpPacket, type ReportBlock } from '../codecs/rtcp.js';
import type { RtpReceiveStats } from './stats.js';
import type { RtpSessionStats } from './session-types.js';

/** What the session knows of its own sending when a report is built. */
export interface SenderState {
  ssrc: number;
  /** RTP timestamp of the last packet sent. */
  ts: number;
  /** Monotonic ms of the last RTP sent, -1 for never. */
  lastSendAt: number;
  packetsSent: number;
  octetsSent: number;
}

export class RtcpReports {
  private lastSrCompact = 0;
  private lastSrAt = -1;
  rttMs: number | null = null;
  remoteReport: RtpSessionStats['remoteReport'] = null;

  constructor(
    private readonly clockRate: number,
    private readonly intervalMs: number,
  ) {}

  /** Take in a received compound packet's SR/RR (`now` monotonic, `wallMs` Unix time). */
  received(packets: readonly RtcpPacket[], ourSsrc: number, now: number, wallMs: number): void {
    for (const p of packets) {
      if (p.type === 'SR') {
        this.lastSrCompact = ntpMiddle32({ seconds: p.ntpSeconds, fraction: p.ntpFraction });
        this.lastSrAt = now;
      }
      if (p.type !== 'SR' && p.type !== 'RR') continue;
      const mine = p.reports.find((r) => r.ssrc === ourSsrc);
      if (!mine) continue;
      this.remoteReport = {
        fractionLost: mine.fractionLost / 256,
        cumulativeLost: mine.cumulativeLost,
        jitterMs: (mine.jitter * 1000) / this.clockRate,
      };
      const rtt = roundTripMs(ntpMiddle32(ntpFromUnixMs(wallMs)), mine.lsr, mine.dlsr);
      if (rtt !== null) this.rttMs = rtt;
    }
  }

  /** Our next report: an SR if we sent RTP within the last two intervals, else an RR. */
  build(s: SenderState, rx: RtpReceiveStats, now: number, wallMs: number): RtcpPacket {
    const reports: ReportBlock[] = [];
    const dlsr = this.lastSrAt >= 0 ? Math.round(((now - this.lastSrAt) / 1000) * 65536) : 0;
    const rb = rx.makeReportBlock(this.lastSrCompact, this.lastSrCompact ? dlsr : 0);
    if (rb) reports.push(rb);
    if (s.lastSendAt >= 0 && now - s.lastSendAt < 2 * this.intervalMs) {
      const ntp = ntpFromUnixMs(wallMs);
      // The SR's RTP timestamp must correspond to its NTP time, not to the last packet.
      const rtpTs = (s.ts + Math.round(((now - s.lastSendAt) * this.clockRate) / 1000)) >>> 0;
      return {
        type: 'SR', ssrc: s.ssrc, ntpSeconds: ntp.seconds, ntpFraction: ntp.fraction,
        rtpTimestamp: rtpTs, packetCount: s.packetsSent, octetCount: s.octetsSent, reports,
      };
    }
    return { type: 'RR', ssrc: s.ssrc, reports };
  }
}
