// The rooms control protocol: JSON text frames a WebSocket member sends to the ROOM (not to its
// service) to list members, mute/deafen/kick them and subscribe to room events (docs/rooms.md
// "Control messages"). A frame is a control message when it starts with CONTROL_PREFIX, so
// services that speak plain text or their own JSON never pay a parse. Every request is validated
// here; a bad one gets a `room.error` reply and never reaches the statechart.
import { z } from 'zod';
import type { RoomFrame, RoomMemberInfo } from './types.js';

/** What every control frame starts with (`JSON.stringify({ type: 'room.…', … })` does). */
export const CONTROL_PREFIX = '{"type":"room.';

export type RoomControlErrorCode = 'bad-json' | 'bad-request' | 'unknown-type' | 'no-such-member' | 'forbidden';

const ref = z.string().max(64).optional();
const memberId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const controlSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('room.members'), ref }).strict(),
  z.object({ type: z.literal('room.mute'), ref, member: memberId, muted: z.boolean() }).strict(),
  z.object({ type: z.literal('room.deaf'), ref, member: memberId, deaf: z.boolean() }).strict(),
  z.object({ type: z.literal('room.kick'), ref, member: memberId, reason: z.string().max(100).optional() }).strict(),
  z.object({ type: z.literal('room.subscribe'), ref, on: z.boolean().optional() }).strict(),
]);

export type RoomControlRequest = z.infer<typeof controlSchema>;

/** What the control handler needs from a room. */
export interface ControlTarget {
  membersInfo(): RoomMemberInfo[];
  memberInfo(id: number): RoomMemberInfo | undefined;
  mute(id: number, muted: boolean): boolean;
  deafen(id: number, deaf: boolean): boolean;
  kick(id: number, detail?: string): boolean;
  subscribe(clientId: number, on: boolean): void;
}

const KNOWN = new Set(['room.members', 'room.mute', 'room.deaf', 'room.kick', 'room.subscribe']);

function frame(o: object): RoomFrame {
  return { data: Buffer.from(JSON.stringify(o)), binary: false };
}

export function errorFrame(code: RoomControlErrorCode, message: string, refValue?: string): RoomFrame {
  return frame({ type: 'room.error', ...(refValue !== undefined ? { ref: refValue } : {}), code, message });
}

/** A room event as sent to subscribed members. */
export function eventFrame(event: 'joined' | 'left' | 'member' | 'talking', member: RoomMemberInfo, extra?: unknown): RoomFrame {
  if (event === 'left') return frame({ type: 'room.left', member, reason: extra });
  if (event === 'talking') return frame({ type: 'room.talking', member, talking: extra });
  return frame({ type: `room.${event}`, member });
}

/**
 * Handle one control frame from member `clientId`; returns the reply. `mayModerate` is false for a
 * member that may only look (auth on and not the room's owner): mute, deaf and kick are refused.
 */
export function handleControl(room: ControlTarget, clientId: number, text: string, mayModerate: boolean): RoomFrame {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return errorFrame('bad-json', 'control message is not valid JSON');
  }
  const refValue = typeof (raw as { ref?: unknown }).ref === 'string' ? ((raw as { ref: string }).ref.slice(0, 64)) : undefined;
  const type = (raw as { type?: unknown }).type;
  if (typeof type !== 'string' || !KNOWN.has(type)) {
    return errorFrame('unknown-type', `unknown control message type: ${String(type).slice(0, 40)}`, refValue);
  }
  const parsed = controlSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    return errorFrame('bad-request', `${type}: ${where}${issue?.message ?? 'invalid'}`, refValue);
  }
  const req = parsed.data;
  const ok = (o: object): RoomFrame => frame({ type: 'room.ok', ...(req.ref !== undefined ? { ref: req.ref } : {}), request: req.type, ...o });
  switch (req.type) {
    case 'room.members':
      return frame({ type: 'room.members', ...(req.ref !== undefined ? { ref: req.ref } : {}), you: clientId, members: room.membersInfo() });
    case 'room.subscribe':
      room.subscribe(clientId, req.on ?? true);
      return ok({});
    default: {
      if (!mayModerate) return errorFrame('forbidden', `${req.type}: only the room's owner may do this`, req.ref);
      const before = room.memberInfo(req.member);
      const done =
        req.type === 'room.mute'
          ? room.mute(req.member, req.muted)
          : req.type === 'room.deaf'
            ? room.deafen(req.member, req.deaf)
            : room.kick(req.member, req.reason);
      if (!done || !before) return errorFrame('no-such-member', `${req.type}: no member ${req.member} in this room`, req.ref);
      return ok({ member: room.memberInfo(req.member) ?? before });
    }
  }
}
