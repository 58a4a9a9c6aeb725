// call.stats() is a union by `kind` (RTP for SIP calls, WS for WebSocket calls): tests of SIP
// calls read the RTP shape through this, which fails the test when the call has another.
import assert from 'node:assert/strict';
import type { CallMediaStats } from '../../src/call/call.js';
import type { RtpSessionStats } from '../../src/media/rtp/session.js';

export function rtpStats(call: { stats(): CallMediaStats | undefined }): RtpSessionStats {
  const s = call.stats();
  assert.ok(s && s.kind === 'rtp', `expected RTP stats, got ${JSON.stringify(s)}`);
  return s;
}
