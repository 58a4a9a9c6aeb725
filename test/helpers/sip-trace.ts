// The SIP messages an engine sent, parsed, from its `sip.trace` hook (tests assert on what went out).
import { parseMessage, type SipMessage } from '../../src/sip/codec/message.js';

export function traced(): { sent: SipMessage[]; hook: (r: { direction: 'in' | 'out'; bytes: Buffer }) => void } {
  const sent: SipMessage[] = [];
  return {
    sent,
    hook: (r) => {
      if (r.direction !== 'out') return;
      const p = parseMessage(Buffer.from(r.bytes));
      if (p.ok) sent.push(p.message);
    },
  };
}
