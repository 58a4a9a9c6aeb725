// The demo application `npm start` runs: the inbound-call protocol's reference behaviour.
// Policy, not engine: ring for a while, answer, echo the caller's audio, hang up after a while.
// Embedders replace it with their own onIncomingCall hook.
import type { Call, IncomingCallDecision } from './call.js';

export interface DemoAppOptions {
  /** Ring time before answering (default 5000 ms). */
  answerDelayMs?: number;
  /** Talk time before the server hangs up (default 10000 ms). */
  hangupAfterMs?: number;
  /** Hang up when the caller presses this digit (default none). */
  hangupDigit?: string;
}

export function demoApp(o: DemoAppOptions = {}): (call: Call) => IncomingCallDecision {
  const answerDelayMs = o.answerDelayMs ?? 5000;
  const hangupAfterMs = o.hangupAfterMs ?? 10_000;
  return (call) => {
    // SIP callers dial in to hear themselves: answer at once and echo until they hang up.
    if (call.transport === 'sip') {
      call.on('audio', (frame) => call.sendAudio(frame));
      call.on('dtmf', (digit) => {
        if (digit === o.hangupDigit) call.hangup(`caller pressed ${digit}`);
      });
      return { action: 'accept' };
    }
    const timers: NodeJS.Timeout[] = [];
    call.once('ended', () => timers.forEach(clearTimeout));
    call.on('audio', (frame) => call.sendAudio(frame));
    call.on('dtmf', (digit) => {
      if (digit === o.hangupDigit) call.hangup(`caller pressed ${digit}`);
    });
    call.once('answered', () => timers.push(setTimeout(() => call.hangup('demo talk time over'), hangupAfterMs)));
    if (answerDelayMs <= 0) return { action: 'accept' };
    timers.push(setTimeout(() => call.answer(), answerDelayMs));
    return { action: 'defer' };
  };
}
