// Issue 13, finding 7 on /playback: with authentication on, sessions, audio zones and connection
// registrations belong to the principal that created it, answers show a client only what it may
// see, sharing is explicit; and always, a live socket's registration cannot be taken over.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { HttpServer } from '../../src/http/server.js';
import { mintToken } from '../../src/http/auth.js';
import { Supervisor } from '../../src/actors/supervisor.js';
import { silentLogger } from '../../src/logger.js';
import { createPlaybackRoutes, createMemoryStore, type PlaybackRoutesOptions } from '../../src/playback/index.js';

type Frame = { type: string; payload?: any; connectionId?: string };

// Real authentication: each principal connects with a bearer token minted from the server's secret.
const SECRET = 'playback-ownership-test-secret';

class Client {
  readonly frames: Frame[] = [];
  private waiters: Array<() => void> = [];
  readonly closed: Promise<number>;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      this.frames.push(JSON.parse(d.toString()) as Frame);
      this.waiters.splice(0).forEach((w) => w());
    });
    ws.on('error', () => {});
    this.closed = new Promise((r) => ws.on('close', (code) => r(code)));
  }

  static open(port: number, principal?: string): Promise<Client> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/playback`, principal ? { headers: { authorization: `Bearer ${mintToken(SECRET, { sub: principal })}` } } : {});
    const c = new Client(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(c));
      ws.once('error', reject);
    });
  }

  /** Frames up to and including the next one of this type (taken off the queue). */
  async upTo(type?: string): Promise<Frame[]> {
    for (;;) {
      const i = this.frames.findIndex((f) => type === undefined || f.type === type);
      if (i >= 0) return this.frames.splice(0, i + 1);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** Next frame of this type (frames before it are dropped). */
  async next(type?: string): Promise<Frame> {
    return (await this.upTo(type)).at(-1)!;
  }

  send(obj: unknown): void {
    this.ws.send(JSON.stringify(obj));
  }

  /**
   * GET_CONNECTION_ID as a fence: only this client's request makes CONNECTION_ID, and the server
   * answers in order, so every frame an earlier request caused is in the returned list.
   */
  async fence(): Promise<Frame[]> {
    this.send({ type: 'GET_CONNECTION_ID' });
    const before = await this.upTo('CONNECTION_ID');
    await this.upTo('SESSIONS');
    return before;
  }

  async request(obj: unknown): Promise<Frame[]> {
    this.send(obj);
    return this.fence();
  }

  /** This client's view of the sessions now. */
  async sessions(): Promise<any[]> {
    this.send({ type: 'GET_CONNECTION_ID' });
    await this.upTo('CONNECTION_ID');
    return (await this.next('SESSIONS')).payload;
  }

  close(): Promise<number> {
    this.ws.close();
    return this.closed;
  }
}

async function start(extra: Partial<PlaybackRoutesOptions> = {}, auth = true) {
  const logger = silentLogger();
  const supervisor = new Supervisor({ logger });
  const routes = createPlaybackRoutes({ supervisor, logger, ...extra });
  const http = new HttpServer({ host: '127.0.0.1', port: 0, logger, ...(auth ? { security: { auth: { secret: SECRET } } } : {}) });
  http.addWsRoute(routes.wsRoute);
  await http.listen();
  await routes.ready;
  return {
    routes,
    port: http.port,
    async stop() {
      await routes.close();
      await http.close();
      supervisor.stopAll();
    },
  };
}

const zone1 = { type: 'AUDIO_ZONE', audioZoneId: 1 };
const update = (sessionId: number, extra: Record<string, unknown>) => ({
  type: 'UPDATE_SESSION',
  payload: { sessionId, profile: 'master', playbackTarget: zone1, ...extra },
});
const errorOf = (frames: Frame[]) => frames.find((f) => f.type === 'ERROR')?.payload;

describe('playback ownership (authentication on)', () => {
  test("another principal can neither see, rename, play, seek nor delete a session", async () => {
    const srv = await start();
    try {
      const alice = await Client.open(srv.port, 'alice');
      const bob = await Client.open(srv.port, 'bob');
      alice.send({ type: 'CREATE_SESSION', payload: { name: 'Alice kitchen', audioZoneId: 1, playlist: { tracks: [1, 2] } } });
      assert.equal((await alice.next('SESSIONS')).payload[0].name, 'Alice kitchen');
      assert.deepEqual(await bob.sessions(), [], 'bob does not see it');

      for (const req of [
        update(1, { name: 'pwned' }),
        update(1, { play: true }),
        { type: 'DELETE_SESSION', payload: { sessionId: 1 } },
        { type: 'SET_SEEK', payload: { sessionId: 1, profile: 'master', playbackTarget: zone1, seek: 99 } },
      ]) {
        const err = errorOf(await bob.request(req));
        assert.deepEqual(err, { code: 'NOT_FOUND', reason: 'no session 1', request: req.type }, req.type);
      }
      // Alice saw none of it and her session is as she left it.
      assert.deepEqual(alice.frames.filter((f) => f.type === 'SESSION_UPDATED' || f.type === 'SET_SEEK'), []);
      const [s] = await alice.sessions();
      assert.equal(s.name, 'Alice kitchen');
      assert.equal(s.playing, false);
      assert.ok(srv.routes.stats.refused >= 4);

      // Bob's own session is his; Alice's zone cannot be its target.
      bob.send({ type: 'CREATE_AUDIO_ZONE', payload: { name: 'Bob den' } });
      await bob.next('SESSIONS');
      alice.send({ type: 'CREATE_SESSION', payload: { name: 'x', audioZoneId: 1, playlist: { tracks: [] } } });
      assert.equal((await alice.next('ERROR')).payload.code, 'NOT_FOUND', "bob's zone 1 is not alice's to use");
      await Promise.all([alice.close(), bob.close()]);
    } finally {
      await srv.stop();
    }
  });

  test('CONNECTIONS shows a client only its own registrations; another principal cannot overwrite one', async () => {
    const srv = await start();
    try {
      const alice = await Client.open(srv.port, 'alice');
      const bob = await Client.open(srv.port, 'bob');
      alice.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: 'alice-phone', name: 'Phone', players: [{ audioOutputId: 'spk', name: 'Speaker' }] } });
      assert.deepEqual((await alice.next('CONNECTIONS')).payload.map((c: any) => c.connectionId), ['alice-phone']);
      assert.deepEqual((await bob.next('CONNECTIONS')).payload, [], 'bob is told nothing of alice-phone');

      const err = errorOf(await bob.request({ type: 'REGISTER_CONNECTION', payload: { connectionId: 'alice-phone', name: 'evil', players: [] } }));
      assert.equal(err.code, 'CONFLICT');
      bob.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: 'bob-tv', name: 'TV', players: [] } });
      assert.deepEqual((await bob.next('CONNECTIONS')).payload.map((c: any) => c.connectionId), ['bob-tv']);
      assert.deepEqual((await alice.next('CONNECTIONS')).payload.map((c: any) => c.connectionId), ['alice-phone']);

      // Even with alice gone, her (offline) registration stays hers.
      await alice.close();
      const conns = (await bob.next('CONNECTIONS')).payload;
      assert.deepEqual(conns.map((c: any) => c.connectionId), ['bob-tv']);
      assert.equal(errorOf(await bob.request({ type: 'REGISTER_CONNECTION', payload: { connectionId: 'alice-phone', name: 'evil', players: [] } })).code, 'CONFLICT');
      const alice2 = await Client.open(srv.port, 'alice');
      alice2.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: 'alice-phone', name: 'Phone', players: [] } });
      const mine = (await alice2.next('CONNECTIONS')).payload;
      assert.deepEqual(mine, [{ connectionId: 'alice-phone', name: 'Phone', alive: true, players: [{ playerId: 1, audioOutputId: 'spk', name: 'Speaker', playing: false }] }]);
      await Promise.all([alice2.close(), bob.close()]);
    } finally {
      await srv.stop();
    }
  });

  test('SHARE_SESSION / SHARE_CONNECTION let the owner share; shares survive a restart; only the owner shares', async () => {
    const store = createMemoryStore();
    let srv = await start({ store });
    const alice = await Client.open(srv.port, 'alice');
    const bob = await Client.open(srv.port, 'bob');
    try {
      alice.send({ type: 'CREATE_SESSION', payload: { name: 'Party', playlist: { tracks: [] } } });
      await alice.next('SESSIONS');
      assert.deepEqual((await bob.next('SESSIONS')).payload, [], "bob's SESSIONS does not show it");
      alice.send({ type: 'SHARE_SESSION', payload: { sessionId: 1, principals: ['bob'] } });
      assert.deepEqual(await alice.next('SHARED'), { type: 'SHARED', payload: { kind: 'SESSION', sessionId: 1, principals: ['bob'] } });
      assert.deepEqual((await bob.next('SESSIONS')).payload.map((s: any) => s.name), ['Party'], 'bob is told at once');
      // Bob may now drive it, and Alice hears about it.
      bob.send(update(1, { play: true }));
      assert.equal((await alice.next('SESSION_UPDATED')).payload.playing, true);
      // ...but not re-share it.
      const err = errorOf(await bob.request({ type: 'SHARE_SESSION', payload: { sessionId: 1, principals: ['mallory'] } }));
      assert.equal(err.code, 'FORBIDDEN');

      alice.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: 'alice-phone', name: 'Phone', players: [] } });
      await alice.next('CONNECTIONS');
      assert.deepEqual((await bob.next('CONNECTIONS')).payload, []);
      alice.send({ type: 'SHARE_CONNECTION', payload: { connectionId: 'alice-phone', principals: ['*'] } });
      await alice.next('SHARED');
      assert.deepEqual((await bob.next('CONNECTIONS')).payload.map((c: any) => c.connectionId), ['alice-phone']);
      await Promise.all([alice.close(), bob.close()]);

      // Owners and shares are persisted.
      await srv.stop();
      srv = await start({ store });
      const bob2 = await Client.open(srv.port, 'bob');
      const carol = await Client.open(srv.port, 'carol');
      assert.deepEqual((await bob2.sessions()).map((s) => s.name), ['Party']);
      assert.deepEqual(await carol.sessions(), []);

      // Unsharing through the engine API (as an operator would).
      assert.equal(srv.routes.share({ kind: 'SESSION', sessionId: 1 }, []), true);
      assert.deepEqual((await bob2.next('SESSIONS')).payload, []);
      assert.equal(errorOf(await bob2.request(update(1, { stop: true }))).code, 'NOT_FOUND');
      assert.equal(srv.routes.share({ kind: 'SESSION', sessionId: 42 }, ['bob']), false);
      await Promise.all([bob2.close(), carol.close()]);
    } finally {
      await srv.stop();
    }
  });
});

describe('playback connection registrations (authentication off)', () => {
  test('sessions stay shared, but a live socket keeps its registration', async () => {
    const srv = await start({}, false);
    try {
      const a = await Client.open(srv.port);
      const b = await Client.open(srv.port);
      a.send({ type: 'GET_CONNECTION_ID' });
      const aId = (await a.next('CONNECTION_ID')).connectionId!;
      a.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: 'phone', name: 'Phone', players: [] } });
      await a.next('CONNECTIONS');
      await b.next('CONNECTIONS');

      // Remote control as MoosicBox does it: b drives a's session.
      a.send({ type: 'CREATE_SESSION', payload: { name: 'Shared', playlist: { tracks: [] } } });
      await b.next('SESSIONS');
      b.send(update(1, { play: true }));
      assert.equal((await a.next('SESSION_UPDATED')).payload.playing, true);

      // But neither a's registration nor a's own connection id can be taken while a is connected.
      for (const connectionId of ['phone', aId]) {
        const err = errorOf(await b.request({ type: 'REGISTER_CONNECTION', payload: { connectionId, name: 'evil', players: [] } }));
        assert.deepEqual(err, { code: 'CONFLICT', reason: `connection id ${connectionId} is held by another live connection`, request: 'REGISTER_CONNECTION' });
      }
      const seenByA = await a.fence();
      assert.deepEqual(seenByA.filter((f) => f.type === 'CONNECTIONS'), [], 'no CONNECTIONS went out for the refused attempts');

      // Once a is gone its registration may be picked up again (a reconnecting client, say).
      await a.close();
      await b.next('CONNECTIONS');
      b.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: 'phone', name: 'Phone again', players: [] } });
      assert.deepEqual((await b.next('CONNECTIONS')).payload.map((c: any) => [c.connectionId, c.name, c.alive]), [['phone', 'Phone again', true]]);
      // SHARE_* means nothing without authentication and says so.
      assert.equal(errorOf(await b.request({ type: 'SHARE_SESSION', payload: { sessionId: 1, principals: ['x'] } })).code, 'FORBIDDEN');
      await b.close();
    } finally {
      await srv.stop();
    }
  });
});

describe('playback caps per principal (authentication on)', () => {
  test('one principal cannot take every session, zone, registration or the playlist store: the others still can', async () => {
    const srv = await start({
      limits: { sessions: 10, audioZones: 10, connections: 10, storedPlaylistSize: 1000, sessionsPerPrincipal: 2, audioZonesPerPrincipal: 1, connectionsPerPrincipal: 1, storedPlaylistSizePerPrincipal: 100 },
    });
    try {
      const mallory = await Client.open(srv.port, 'mallory');
      const alice = await Client.open(srv.port, 'alice');
      const create = (name: string, tracks: number[] = []) => ({ type: 'CREATE_SESSION', payload: { name, playlist: { tracks } } });
      for (const name of ['m1', 'm2']) assert.equal(errorOf(await mallory.request(create(name))), undefined, name);
      assert.deepEqual(errorOf(await mallory.request(create('m3'))), {
        code: 'LIMIT_EXCEEDED',
        reason: 'too many sessions for one principal: limit of 2 reached',
        request: 'CREATE_SESSION',
      });
      assert.equal(errorOf(await alice.request(create('a1'))), undefined, 'alice still creates hers');
      assert.deepEqual((await alice.sessions()).map((s) => s.name), ['a1']);

      // A playlist over the principal's share of the store, though the store has room.
      const big = Array.from({ length: 40 }, (_, i) => i + 1);
      assert.equal(errorOf(await mallory.request({ type: 'DELETE_SESSION', payload: { sessionId: 2 } })), undefined);
      assert.deepEqual(errorOf(await mallory.request(create('huge', big))), {
        code: 'LIMIT_EXCEEDED',
        reason: "this principal's stored playlists are over their size limit",
        request: 'CREATE_SESSION',
      });
      assert.deepEqual(errorOf(await mallory.request(update(1, { playlist: { sessionPlaylistId: 1, tracks: big.map((trackId) => ({ trackId })) } }))), {
        code: 'LIMIT_EXCEEDED',
        reason: "this principal's stored playlists are over their size limit",
        request: 'UPDATE_SESSION',
      });
      assert.equal(errorOf(await alice.request(create('a2', big.slice(0, 3)))), undefined);

      assert.equal(errorOf(await mallory.request({ type: 'CREATE_AUDIO_ZONE', payload: { name: 'mz1' } })), undefined);
      assert.deepEqual(errorOf(await mallory.request({ type: 'CREATE_AUDIO_ZONE', payload: { name: 'mz2' } })), {
        code: 'LIMIT_EXCEEDED',
        reason: 'too many audio zones for one principal: limit of 1 reached',
        request: 'CREATE_AUDIO_ZONE',
      });
      assert.equal(errorOf(await alice.request({ type: 'CREATE_AUDIO_ZONE', payload: { name: 'az1' } })), undefined);

      const register = (connectionId: string) => ({ type: 'REGISTER_CONNECTION', payload: { connectionId, name: connectionId, players: [] } });
      assert.equal(errorOf(await mallory.request(register('mc1'))), undefined);
      // The same socket registering again under its own id is an update, not a new one.
      assert.equal(errorOf(await mallory.request(register('mc1'))), undefined);
      const mallory2 = await Client.open(srv.port, 'mallory');
      assert.deepEqual(errorOf(await mallory2.request(register('mc2'))), {
        code: 'LIMIT_EXCEEDED',
        reason: 'too many connections for one principal: limit of 1 reached',
        request: 'REGISTER_CONNECTION',
      });
      assert.equal(errorOf(await alice.request(register('ac1'))), undefined);
      // A principal's registration without a live socket makes room for its next one.
      await mallory.close();
      assert.equal(errorOf(await mallory2.request(register('mc2'))), undefined, 'mc1 is forgotten once its socket is gone');
      await Promise.all([mallory2.close(), alice.close()]);
    } finally {
      await srv.stop();
    }
  });
});
