// jambonz's call:status → the shared call machine's event: how the call actor of a jambonz
// session follows what jambonz reports about the call.
import type { CallEvent } from '../../machines/call.machine.js';
import type { JambonzCallStatus } from './protocol.js';

/**
 * call:status → call machine event. The call actor is ringing from session:new until jambonz says
 * the call is answered (in-progress); the final statuses end it with the matching reason. Returns
 * undefined when the status changes nothing (trying, queued, or already past that point).
 */
export function callEventForStatus(
  status: JambonzCallStatus,
  direction: 'inbound' | 'outbound',
  callState: string,
  sip: { status?: number; reason?: string } = {},
): CallEvent | undefined {
  if (callState === 'ended') return undefined;
  const ringing = callState === 'ringing';
  const detail = `call:status ${status}${sip.status ? ` (${sip.status}${sip.reason ? ` ${sip.reason}` : ''})` : ''}`;
  switch (status) {
    case 'trying':
    case 'queued':
      return undefined;
    case 'ringing':
      return ringing ? { type: 'CALL.PROGRESS', code: 180 } : undefined;
    case 'early-media':
      return ringing ? { type: 'CALL.PROGRESS', code: 183, earlyMedia: true } : undefined;
    case 'in-progress':
      if (!ringing) return undefined;
      return direction === 'inbound' ? { type: 'CALL.ANSWER' } : { type: 'CALL.ANSWERED' };
    case 'completed':
      return { type: 'CALL.REMOTE_HANGUP', detail };
    case 'failed':
      return { type: 'CALL.FAILED', ...(sip.status ? { code: sip.status } : {}), reason: detail };
    case 'busy':
      if (!ringing) return { type: 'CALL.REMOTE_HANGUP', detail };
      // Outbound: the callee was busy. Inbound: the app's verbs declined the call (sip:decline 486).
      return direction === 'outbound'
        ? { type: 'CALL.REJECTED', code: sip.status ?? 486, reason: sip.reason ?? 'Busy Here' }
        : { type: 'CALL.REJECT', code: sip.status ?? 486, reason: sip.reason ?? 'Busy Here' };
    case 'no-answer':
      if (!ringing) return { type: 'CALL.REMOTE_HANGUP', detail };
      // Outbound: nobody answered. Inbound: the caller gave up before jambonz answered.
      return direction === 'outbound' ? { type: 'CALL.REJECTED', code: sip.status ?? 480, reason: sip.reason ?? 'No Answer' } : { type: 'CALL.CANCELLED' };
  }
}
