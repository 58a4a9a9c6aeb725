// What each principal is shown of the engine's own players (players.ts keeps a player to the
// principals given to attachPlayer): CONNECTIONS lists the engine's connection with only the
// players the recipient may use, and AUDIO_ZONE_WITH_SESSIONS leaves the others out of a zone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { audioZonesView, connectionsView, type ViewSource } from '../../src/playback/views.js';
import type { ConnectionRecord } from '../../src/playback/store.js';
import type { SessionEntry } from '../../src/playback/types.js';

const player = (playerId: number, audioOutputId: string) => ({ playerId, audioOutputId, name: audioOutputId, playing: false });
// Player 1 (call:a) is kept to alice; player 2 (call:b) is everyone's; player 3 is a client's.
const keptTo: Record<number, string[]> = { 1: ['alice'] };
const visible = (playerId: number, principal: string | undefined) => principal === undefined || !keptTo[playerId] || keptTo[playerId]!.includes(principal);

function source(): ViewSource {
  const session = { actor: { ref: { getSnapshot: () => ({ context: { sessionId: 7, target: { type: 'AUDIO_ZONE', audioZoneId: 4 } } }) } }, acl: {}, size: 0 } as unknown as SessionEntry;
  return {
    sessions: new Map([[7, session]]),
    zones: new Map([[4, { id: 4, name: 'hold', players: [player(1, 'call:a'), player(2, 'call:b'), player(3, 'out')] }]]),
    registered: new Map([['c1', { connectionId: 'c1', name: 'phone', players: [player(3, 'out')] }]]),
    engineConnection(principal): ConnectionRecord | undefined {
      const players = [player(1, 'call:a'), player(2, 'call:b')].filter((p) => visible(p.playerId, principal));
      return players.length ? { connectionId: 'callchart', name: 'callchart', players } : undefined;
    },
    playerVisible: visible,
    alive: () => new Set(['c1']),
    encode: (f) => JSON.stringify(f),
    snapshotFailed: () => assert.fail('no snapshot fails here'),
  };
}

const outputs = (players: Array<{ audioOutputId: string }>) => players.map((p) => p.audioOutputId);

test('CONNECTIONS: the engine connection, live, with only the players the principal may use', () => {
  for (const [who, want] of [
    ['alice', ['call:a', 'call:b']],
    ['mallory', ['call:b']],
  ] as const) {
    const conns = JSON.parse(connectionsView(source(), who)!).payload as Array<{ connectionId: string; alive: boolean; players: Array<{ audioOutputId: string }> }>;
    const mine = conns.find((c) => c.connectionId === 'callchart');
    assert.ok(mine, who);
    assert.equal(mine.alive, true);
    assert.deepEqual(outputs(mine.players), want, who);
    assert.deepEqual(outputs(conns.find((c) => c.connectionId === 'c1')!.players), ['out']);
  }
});

test('AUDIO_ZONE_WITH_SESSIONS: a zone lists only the players the principal may use', () => {
  const zoneOf = (who: string) => (JSON.parse(audioZonesView(source(), who)!).payload as Array<{ id: number; players: Array<{ audioOutputId: string }> }>).find((z) => z.id === 4)!;
  assert.deepEqual(outputs(zoneOf('alice').players), ['call:a', 'call:b', 'out']);
  assert.deepEqual(outputs(zoneOf('mallory').players), ['call:b', 'out']);
});
