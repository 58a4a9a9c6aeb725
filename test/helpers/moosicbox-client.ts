// A MoosicBox remote-control client, written from the protocol (docs/playback.md, MoosicBox's
// packages/ws models): it learns its connection id, registers itself, reads CONNECTIONS to find a
// player, creates a session and drives it with UPDATE_SESSION, as a MoosicBox app does.
import assert from 'node:assert/strict';
import { TestClient } from './ws-client.js';

export interface ApiPlayer {
  playerId: number;
  audioOutputId: string;
  name: string;
  playing: boolean;
}

export type Target =
  | { type: 'AUDIO_ZONE'; audioZoneId: number }
  | { type: 'CONNECTION_OUTPUT'; connectionId: string; outputId: string }
  | { type: 'CALL_LEG'; callId: string }
  | { type: 'ROOM'; roomId: string };

export class MoosicBoxClient {
  readonly ws: TestClient;
  connectionId = '';

  private constructor(url: string, token?: string) {
    this.ws = new TestClient(url, undefined, token ? { headers: { authorization: `Bearer ${token}` } } : undefined);
  }

  /** `token`: a bearer token, for an engine with authentication on. */
  static async connect(port: number, name = 'remote', token?: string): Promise<MoosicBoxClient> {
    const c = new MoosicBoxClient(`ws://127.0.0.1:${port}/playback`, token);
    await c.ws.opened();
    c.ws.send({ type: 'GET_CONNECTION_ID' });
    c.connectionId = (await c.ws.json('CONNECTION_ID')).connectionId;
    await c.ws.json('SESSIONS');
    // A MoosicBox app registers its connection (no local players here); everyone gets CONNECTIONS.
    c.ws.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: c.connectionId, name, players: [] } });
    return c;
  }

  /** The next CONNECTIONS frame's players of `connectionId`. */
  async playersOf(connectionId: string): Promise<ApiPlayer[]> {
    const f = await this.ws.json('CONNECTIONS');
    const conn = (f.payload as Array<{ connectionId: string; alive: boolean; players: ApiPlayer[] }>).find((c) => c.connectionId === connectionId);
    assert.ok(conn, `CONNECTIONS lists ${connectionId}: ${JSON.stringify(f.payload)}`);
    assert.equal(conn.alive, true);
    return conn.players;
  }

  /** CREATE_SESSION with these track ids; resolves with the new session's id. */
  async createSession(name: string, tracks: number[], audioZoneId?: number): Promise<number> {
    this.ws.send({ type: 'CREATE_SESSION', payload: { name, playlist: { tracks }, ...(audioZoneId !== undefined ? { audioZoneId } : {}) } });
    const f = await this.ws.json('SESSIONS');
    const s = (f.payload as Array<{ sessionId: number; name: string }>).filter((x) => x.name === name).pop();
    assert.ok(s, `SESSIONS holds ${name}`);
    return s.sessionId;
  }

  update(sessionId: number, target: Target, fields: Record<string, unknown>): void {
    this.ws.send({ type: 'UPDATE_SESSION', payload: { sessionId, profile: 'master', playbackTarget: target, ...fields } });
  }

  /** The next SESSION_UPDATED for `sessionId` that `match` accepts. */
  async updated(sessionId: number, match: (p: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const f = await this.ws.next((f) => f.kind === 'text' && f.json?.type === 'SESSION_UPDATED' && f.json.payload.sessionId === sessionId && match(f.json.payload), timeoutMs);
    return (f as { json: { payload: Record<string, unknown> } }).json.payload;
  }

  close(): void {
    this.ws.ws.close();
  }
}
