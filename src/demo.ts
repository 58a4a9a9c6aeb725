// The demo application `npm start` runs: the inbound-call protocol's reference behaviour.
// Policy, not engine: ring for a while, answer, echo the caller's audio, hang up after a while.
// SIP calls are answered at once and echoed with startEcho(call.media); WebSocket calls echo their
// binary frames.
// Embedders replace it with their own onIncomingCall hook.
import type { Call, IncomingCallDecision } from './call.js';
import { startEcho } from './media-actors/echo.js';

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
    call.on('dtmf', (digit) => {
      if (digit === o.hangupDigit) call.hangup(`caller pressed ${digit}`);
    });
    // Echo on the media plane when the call has one: G.711 bytes go straight back (pass-through),
    // no per-frame EventEmitter hop, and it stops by itself when the call ends.
    if (call.media) startEcho(call.media, { mode: 'auto' });
    else call.on('audio', (frame) => call.sendAudio(frame));
    // SIP callers dial in to hear themselves: answer at once and echo until they hang up.
    if (call.transport === 'sip') return { action: 'accept' };
    const timers: NodeJS.Timeout[] = [];
    call.once('ended', () => timers.forEach(clearTimeout));
    call.once('answered', () => timers.push(setTimeout(() => call.hangup('demo talk time over'), hangupAfterMs)));
    if (answerDelayMs <= 0) return { action: 'accept' };
    timers.push(setTimeout(() => call.answer(), answerDelayMs));
    return { action: 'defer' };
  };
}
