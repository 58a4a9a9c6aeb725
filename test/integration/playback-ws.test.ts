import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WebSocket, type ClientOptions } from 'ws';
import { HttpServer } from '../../src/http/server.js';
import { Supervisor } from '../../src/actors/supervisor.js';
import { silentLogger } from '../../src/logger.js';
import {
  createPlaybackRoutes,
  createFileStore,
  createMemoryStore,
  type PlaybackRoutesOptions,
  type PlaybackStore,
} from '../../src/playback/index.js';

type Frame = { type: string; payload?: any; connectionId?: string };

interface Client {
  ws: WebSocket;
  frames: Frame[];
  closed: Promise<number>;
  next(): Promise<Frame>;
  /** Next frame of this type, skipping others. */
  nextOf(type: string): Promise<Frame>;
  send(obj: unknown): void;
}

function connect(port: number, options?: ClientOptions): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/playback`, options);
    const frames: Frame[] = [];
    const waiters: Array<{ res: (f: Frame) => void; rej: (e: Error) => void }> = [];
    let cursor = 0;
    let gone = false;
    ws.on('message', (data) => {
      frames.push(JSON.parse(data.toString()) as Frame);
      const w = waiters.shift();
      if (w) w.res(frames[cursor++]!);
    });
    ws.on('error', () => {});
    const closed = new Promise<number>((res) =>
      ws.on('close', (code) => {
        // A frame awaited from a closed socket never comes: fail the test instead of hanging it.
        gone = true;
        for (const w of waiters.splice(0)) w.rej(new Error(`socket closed (${code}) while a frame was awaited`));
        res(code);
      }),
    );
    const next = () =>
      new Promise<Frame>((res, rej) => {
        if (cursor < frames.length) res(frames[cursor++]!);
        else if (gone) rej(new Error('socket closed while a frame was awaited'));
        else waiters.push({ res, rej });
      });
    ws.once('open', () =>
      resolve({
        ws,
        frames,
        closed,
        next,
        async nextOf(type) {
          for (;;) {
            const f = await next();
            if (f.type === type) return f;
          }
        },
        send: (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)),
      }),
    );
    ws.once('close', () => reject(new Error('closed before open')));
  });
}

async function start(extra: Partial<PlaybackRoutesOptions> = {}) {
  const logger = silentLogger();
  const supervisor = new Supervisor({ logger });
  const routes = createPlaybackRoutes({ supervisor, logger, ...extra });
  const http = new HttpServer({ host: '127.0.0.1', port: 0, logger });
  http.addWsRoute(routes.wsRoute);
  await http.listen();
  await routes.ready;
  return {
    routes,
    supervisor,
    port: http.port,
    async stop() {
      await routes.close();
      await http.close();
      supervisor.stopAll();
    },
  };
}

const target = { type: 'AUDIO_ZONE', audioZoneId: 1 };

/** Open a client and learn its connection id (CONNECTION_ID then SESSIONS). */
async function join(port: number) {
  const c = await connect(port);
  c.send({ type: 'GET_CONNECTION_ID' });
  const id = await c.next();
  assert.equal(id.type, 'CONNECTION_ID');
  assert.equal(typeof id.connectionId, 'string');
  const sessions = await c.next();
  assert.equal(sessions.type, 'SESSIONS');
  return { c, id: id.connectionId!, sessions: sessions.payload as any[] };
}

describe('playback protocol (MoosicBox shapes)', () => {
  test('GET_CONNECTION_ID answers CONNECTION_ID then SESSIONS, to the sender only', async () => {
    const srv = await start();
    try {
      const other = await connect(srv.port);
      const { c, id, sessions } = await join(srv.port);
      assert.deepEqual(sessions, []);
      assert.ok(srv.routes.connections().includes(id));
      c.send({ type: 'PING' });
      c.send({ type: 'GET_SESSIONS' });
      assert.deepEqual(await c.next(), { type: 'SESSIONS', payload: [] });
      assert.equal(other.frames.length, 0);
      c.ws.close();
      other.ws.close();
      await Promise.all([c.closed, other.closed]);
    } finally {
      await srv.stop();
    }
  });

  test('CREATE / UPDATE / DELETE sessions with several clients', async () => {
    const srv = await start();
    try {
      const a = await join(srv.port);
      const b = await join(srv.port);
      const c = await join(srv.port);
      a.c.send({ type: 'CREATE_SESSION', payload: { name: 'Kitchen', audioZoneId: 1, playlist: { tracks: [10, 11, 12] } } });
      for (const cl of [a, b, c]) {
        const f = await cl.c.nextOf('SESSIONS');
        assert.deepEqual(f.payload, [
          {
            sessionId: 1,
            name: 'Kitchen',
            active: false,
            playing: false,
            position: null,
            seek: null,
            volume: null,
            playbackTarget: target,
            playlist: { sessionPlaylistId: 1, tracks: [{ trackId: 10 }, { trackId: 11 }, { trackId: 12 }] },
          },
        ]);
      }
      // Partial patch: SESSION_UPDATED to everyone except the sender.
      b.c.send({
        type: 'UPDATE_SESSION',
        payload: { sessionId: 1, profile: 'master', playbackTarget: target, play: true, position: 1, volume: 0.5, seek: 12.5 },
      });
      for (const cl of [a, c]) {
        const f = await cl.c.next();
        assert.deepEqual(f, {
          type: 'SESSION_UPDATED',
          payload: { sessionId: 1, profile: 'master', playbackTarget: target, play: true, playing: true, position: 1, seek: 12.5, volume: 0.5 },
        });
      }
      b.c.send({ type: 'GET_SESSIONS' });
      const state = await b.c.next(); // the sender got no SESSION_UPDATED: its next frame is SESSIONS
      assert.equal(state.type, 'SESSIONS');
      assert.equal(state.payload[0].playing, true);
      assert.equal(state.payload[0].volume, 0.5);
      assert.equal(state.payload[0].position, 1);

      // Pause, then stop rewinds.
      a.c.send({ type: 'UPDATE_SESSION', payload: { sessionId: 1, profile: 'master', playbackTarget: target, playing: false } });
      assert.equal((await b.c.next()).payload.playing, false);
      a.c.send({ type: 'UPDATE_SESSION', payload: { sessionId: 1, profile: 'master', playbackTarget: target, stop: true } });
      assert.deepEqual((await b.c.next()).payload, { sessionId: 1, profile: 'master', playbackTarget: target, stop: true, playing: false, seek: 0 });

      c.c.send({ type: 'DELETE_SESSION', payload: { sessionId: 1 } });
      for (const cl of [a, b, c]) assert.deepEqual(await cl.c.nextOf('SESSIONS'), { type: 'SESSIONS', payload: [] });
      assert.equal(srv.supervisor.count('session'), 0);
      for (const cl of [a, b, c]) cl.c.ws.close();
      await Promise.all([a.c.closed, b.c.closed, c.c.closed]);
    } finally {
      await srv.stop();
    }
  });

  test('SET_SEEK is relayed to all but the sender and not stored', async () => {
    const srv = await start();
    try {
      const a = await join(srv.port);
      const b = await join(srv.port);
      const c = await join(srv.port);
      a.c.send({ type: 'CREATE_SESSION', payload: { name: 's', playlist: { tracks: [] } } });
      for (const cl of [a, b, c]) await cl.c.nextOf('SESSIONS');
      const seek = { sessionId: 1, profile: 'master', playbackTarget: target, seek: 42 };
      a.c.send({ type: 'SET_SEEK', payload: seek });
      assert.deepEqual(await b.c.next(), { type: 'SET_SEEK', payload: seek });
      assert.deepEqual(await c.c.next(), { type: 'SET_SEEK', payload: seek });
      a.c.send({ type: 'GET_SESSIONS' });
      const f = await a.c.next();
      assert.equal(f.type, 'SESSIONS');
      assert.equal(f.payload[0].seek, null);
      for (const cl of [a, b, c]) cl.c.ws.close();
      await Promise.all([a.c.closed, b.c.closed, c.c.closed]);
    } finally {
      await srv.stop();
    }
  });

  test('connections, players and audio zones', async () => {
    const srv = await start();
    try {
      const a = await join(srv.port);
      const b = await join(srv.port);
      a.c.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: a.id, name: 'Phone', players: [{ audioOutputId: 'spk', name: 'Speaker' }] } });
      for (const cl of [a, b]) {
        const f = await cl.c.nextOf('CONNECTIONS');
        assert.deepEqual(f.payload, [
          { connectionId: a.id, name: 'Phone', alive: true, players: [{ playerId: 1, audioOutputId: 'spk', name: 'Speaker', playing: false }] },
        ]);
      }
      a.c.send({ type: 'REGISTER_PLAYERS', payload: [{ audioOutputId: 'hp', name: 'Headphones' }] });
      for (const cl of [a, b]) assert.equal((await cl.c.nextOf('CONNECTIONS')).payload[0].players.length, 2);
      // REGISTER_PLAYERS before REGISTER_CONNECTION is answered, not silently dropped.
      b.c.send({ type: 'REGISTER_PLAYERS', payload: [] });
      assert.equal((await b.c.next()).payload.code, 'NOT_FOUND');

      // CREATE_AUDIO_ZONE: SESSIONS to all, CONNECTIONS to the others only.
      b.c.send({ type: 'CREATE_AUDIO_ZONE', payload: { name: 'Living room' } });
      assert.equal((await a.c.next()).type, 'SESSIONS');
      assert.equal((await a.c.next()).type, 'CONNECTIONS');
      assert.equal((await b.c.next()).type, 'SESSIONS');
      b.c.send({ type: 'PING' });
      b.c.send({ type: 'GET_SESSIONS' });
      assert.equal((await b.c.next()).type, 'SESSIONS', 'creator must not get CONNECTIONS');

      // A session on that zone shows up in AUDIO_ZONE_WITH_SESSIONS.
      b.c.send({ type: 'CREATE_SESSION', payload: { name: 'LR', audioZoneId: 1, playlist: { tracks: [] } } });
      await a.c.nextOf('SESSIONS');
      await b.c.nextOf('SESSIONS');
      assert.equal(srv.routes.publish({ type: 'AUDIO_ZONE_WITH_SESSIONS' }), 2);
      assert.deepEqual(await a.c.next(), { type: 'AUDIO_ZONE_WITH_SESSIONS', payload: [{ id: 1, sessionId: 1, name: 'Living room', players: [] }] });
      assert.equal(srv.routes.publish({ type: 'DOWNLOAD_EVENT', payload: { progress: 0.5 }, except: b.id }), 1);
      assert.deepEqual(await a.c.next(), { type: 'DOWNLOAD_EVENT', payload: { progress: 0.5 } });
      srv.routes.publish({ type: 'SCAN_EVENT', payload: { scanned: 3, total: 9 } });
      assert.deepEqual(await b.c.nextOf('SCAN_EVENT'), { type: 'SCAN_EVENT', payload: { scanned: 3, total: 9 } });

      // Disconnect: CONNECTIONS to the rest, registration kept but no longer alive.
      a.c.ws.close();
      await a.c.closed;
      const f = await b.c.nextOf('CONNECTIONS');
      assert.equal(f.payload[0].alive, false);
      b.c.ws.close();
      await b.c.closed;
    } finally {
      await srv.stop();
    }
  });
});

describe('playback bad input', () => {
  test('bad JSON, unknown type, invalid payload and unknown session get typed errors; socket stays open', async () => {
    const srv = await start();
    try {
      const { c } = await join(srv.port);
      c.send('{nope');
      assert.deepEqual((await c.next()).payload.code, 'BAD_JSON');
      c.send('[1,2]');
      assert.equal((await c.next()).payload.code, 'BAD_JSON');
      c.send({ type: 'FROBNICATE' });
      assert.deepEqual((await c.next()).payload, { code: 'UNKNOWN_TYPE', reason: 'unknown message type: FROBNICATE', request: 'FROBNICATE' });
      c.send({ payload: {} });
      assert.equal((await c.next()).payload.code, 'UNKNOWN_TYPE');
      c.send({ type: 'UPDATE_SESSION', payload: { sessionId: 1, profile: 'p', playbackTarget: target, volume: 7 } });
      const inv = await c.next();
      assert.equal(inv.type, 'ERROR');
      assert.equal(inv.payload.code, 'INVALID_PAYLOAD');
      assert.equal(inv.payload.request, 'UPDATE_SESSION');
      assert.match(inv.payload.reason, /volume/);
      c.send({ type: 'UPDATE_SESSION', payload: { sessionId: 1, profile: 'p', playbackTarget: { type: 'MARS' } } });
      assert.equal((await c.next()).payload.code, 'INVALID_PAYLOAD');
      c.send({ type: 'CREATE_SESSION' });
      assert.equal((await c.next()).payload.code, 'INVALID_PAYLOAD');
      c.send({ type: 'UPDATE_SESSION', payload: { sessionId: 99, profile: 'p', playbackTarget: target } });
      assert.deepEqual((await c.next()).payload, { code: 'NOT_FOUND', reason: 'no session 99', request: 'UPDATE_SESSION' });
      c.send({ type: 'DELETE_SESSION', payload: { sessionId: 99 } });
      assert.equal((await c.next()).payload.code, 'NOT_FOUND');
      c.ws.send(Buffer.from([1, 2]));
      assert.equal((await c.next()).payload.code, 'INVALID_PAYLOAD');
      // still usable
      c.send({ type: 'GET_SESSIONS' });
      assert.equal((await c.next()).type, 'SESSIONS');
      assert.equal(c.ws.readyState, WebSocket.OPEN);
      c.ws.close();
      await c.closed;
    } finally {
      await srv.stop();
    }
  });

  test('stored free-form fields are bounded: bad tracks are refused with a reason and the session is unchanged', async () => {
    // Frames larger than the default 1 MiB, so the playlist's own size bound is reached.
    const srv = await start({ maxPayload: 4 * 1024 * 1024 });
    try {
      const { c } = await join(srv.port);
      c.send({ type: 'CREATE_SESSION', payload: { name: 'Kitchen', playlist: { tracks: [5] } } });
      await c.nextOf('SESSIONS');
      const withTracks = (tracks: unknown) => ({
        type: 'UPDATE_SESSION',
        payload: { sessionId: 1, profile: 'p', playbackTarget: target, play: true, playlist: { sessionPlaylistId: 1, tracks } },
      });
      const cases: Array<[unknown, RegExp]> = [
        [[{ a: [[[[[[[[1]]]]]]]] }], /playlist\.tracks\.0\.a\.0\.0\.0\.0\.0\.0\.0: nested deeper than 8 levels/],
        [[{ title: 'x'.repeat(5000) }], /playlist\.tracks\.0\.title: string longer than 4096/],
        [[Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, i]))], /more than 128 keys/],
        [[{ list: Array.from({ length: 2000 }, () => 0) }], /array longer than 1024/],
        [[{ a: 'x'.repeat(4000), b: 'x'.repeat(4000), c: 'x'.repeat(4000), d: 'x'.repeat(4000), e: 'x'.repeat(4000) }], /larger than 16384/],
        [Array.from({ length: 300 }, () => ({ t: 'x'.repeat(4000) })), /playlist larger than 1048576/],
        [[7], /a track must be a JSON object/],
        [[{ trackId: { no: 1 } }], /trackId must be a number or a string/],
        [[{ album: { xstate$$type: 1, id: 'x' } }], /key "xstate\$\$type" is reserved/],
        [[{ sessionId: 1, send: true, ref: 'r' }], /actor reference/],
      ];
      for (const [tracks, reason] of cases) {
        c.send(withTracks(tracks));
        const err = await c.next();
        assert.equal(err.type, 'ERROR');
        assert.equal(err.payload.code, 'INVALID_PAYLOAD');
        assert.match(err.payload.reason, reason);
      }
      c.send({ type: 'UPDATE_SESSION', payload: { sessionId: 1, profile: 'p'.repeat(300), playbackTarget: target } });
      assert.match((await c.next()).payload.reason, /profile/);
      c.send({ type: 'GET_SESSIONS' });
      const [s] = (await c.next()).payload;
      assert.deepEqual([s.playing, s.playlist], [false, { sessionPlaylistId: 1, tracks: [{ trackId: 5 }] }]);
      c.ws.close();
      await c.closed;
    } finally {
      await srv.stop();
    }
  });

  test('caps on sessions, zones, players and registrations answer LIMIT_EXCEEDED', async () => {
    const srv = await start({ limits: { sessions: 2, audioZones: 1, playersPerConnection: 2, connections: 2, storedPlaylistSize: 40 } });
    try {
      const { c } = await join(srv.port);
      const code = async () => (await c.nextOf('ERROR')).payload.code;
      c.send({ type: 'CREATE_SESSION', payload: { name: 'big', playlist: { tracks: [1, 2, 3, 4] } } });
      assert.equal(await code(), 'LIMIT_EXCEEDED', 'playlist over the stored size');
      for (const name of ['a', 'b']) {
        c.send({ type: 'CREATE_SESSION', payload: { name, playlist: { tracks: [] } } });
        await c.nextOf('SESSIONS');
      }
      c.send({ type: 'CREATE_SESSION', payload: { name: 'c', playlist: { tracks: [] } } });
      assert.equal(await code(), 'LIMIT_EXCEEDED');
      c.send({ type: 'CREATE_AUDIO_ZONE', payload: { name: 'z1' } });
      await c.nextOf('SESSIONS');
      c.send({ type: 'CREATE_AUDIO_ZONE', payload: { name: 'z2' } });
      assert.equal(await code(), 'LIMIT_EXCEEDED');
      const players = (n: number) => Array.from({ length: n }, (_, i) => ({ audioOutputId: `o${i}`, name: `p${i}` }));
      c.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: 'one', name: 'one', players: players(3) } });
      assert.equal(await code(), 'LIMIT_EXCEEDED');
      c.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: 'one', name: 'one', players: players(2) } });
      await c.nextOf('CONNECTIONS');
      c.send({ type: 'REGISTER_PLAYERS', payload: [{ audioOutputId: 'more', name: 'more' }] });
      assert.equal(await code(), 'LIMIT_EXCEEDED');
      // Registrations without a live socket make room: 'one' is released when this socket moves on.
      for (const id of ['two', 'three', 'four']) {
        c.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: id, name: id, players: [] } });
        await c.nextOf('CONNECTIONS');
      }
      c.send({ type: 'GET_SESSIONS' });
      await c.nextOf('SESSIONS');
      srv.routes.publish({ type: 'CONNECTIONS' });
      assert.deepEqual((await c.nextOf('CONNECTIONS')).payload.map((x: any) => x.connectionId), ['three', 'four']);
      c.ws.close();
      await c.closed;
    } finally {
      await srv.stop();
    }
  });

  test('a store that fails is logged and counted; clients are not affected', async () => {
    const failing: PlaybackStore = {
      load: async () => {
        throw new Error('disk on fire');
      },
      save: async () => {
        throw new Error('disk full');
      },
    };
    const srv = await start({ store: failing });
    try {
      assert.equal(srv.routes.stats.restoreErrors, 1);
      const { c } = await join(srv.port);
      c.send({ type: 'CREATE_SESSION', payload: { name: 'a', playlist: { tracks: [] } } });
      await c.nextOf('SESSIONS');
      c.send({ type: 'GET_SESSIONS' });
      assert.equal((await c.nextOf('SESSIONS')).payload.length, 1);
      assert.ok(srv.routes.stats.saveErrors >= 1);
      c.ws.close();
      await c.closed;
    } finally {
      await srv.stop();
    }
    assert.ok(srv.routes.stats.saveErrors >= 2, 'the final save on close failed too, and was contained');
  });

  test('flood closes with 1008, oversized frame with 1009', async () => {
    const srv = await start({ rateLimit: { messagesPerSecond: 5, burst: 10 }, maxPayload: 2048 });
    try {
      const a = await connect(srv.port);
      for (let i = 0; i < 100; i++) a.send({ type: 'PING' });
      assert.equal(await a.closed, 1008);
      const b = await connect(srv.port);
      b.send({ type: 'PING', junk: 'x'.repeat(10_000) });
      assert.equal(await b.closed, 1009);
    } finally {
      await srv.stop();
    }
  });

  test('large frames within the frame rate are still limited by bytes (1008), a small client alongside is not', async () => {
    const srv = await start({ maxPayload: 64 * 1024, byteRate: { bytesPerSecond: 16 * 1024, burst: 64 * 1024 } });
    try {
      const big = await connect(srv.port);
      const small = await connect(srv.port);
      // 40 KB frames: two fit the 64 KB burst, the third is over it.
      for (let i = 0; i < 3; i++) big.send({ type: 'PING', junk: 'x'.repeat(40_000) });
      assert.equal(await big.closed, 1008);
      small.send({ type: 'GET_CONNECTION_ID' });
      assert.equal((await small.nextOf('CONNECTION_ID')).type, 'CONNECTION_ID');
    } finally {
      await srv.stop();
    }
  });

  test('a silent client is dropped by the heartbeat and the others get CONNECTIONS', async () => {
    // Not too tight: on a busy box the live client's pongs must still beat the silence timeout.
    const srv = await start({ heartbeatMs: 50, silenceTimeoutMs: 400 });
    try {
      const alive = await join(srv.port);
      const silent = await connect(srv.port, { autoPong: false });
      assert.equal(await silent.closed, 1006);
      const f = await alive.c.nextOf('CONNECTIONS');
      assert.deepEqual(f.payload, []);
      assert.deepEqual(srv.routes.connections(), [alive.id]);
      alive.c.ws.close();
      await alive.c.closed;
    } finally {
      await srv.stop();
    }
  });
});

describe('playback persistence', () => {
  async function scenario(store: PlaybackStore) {
    const first = await start({ store });
    const a = await join(first.port);
    a.c.send({ type: 'CREATE_AUDIO_ZONE', payload: { name: 'Den' } });
    await a.c.nextOf('SESSIONS');
    a.c.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: 'tv', name: 'TV', players: [{ audioOutputId: 'hdmi', name: 'HDMI' }] } });
    await a.c.nextOf('CONNECTIONS');
    a.c.send({ type: 'CREATE_SESSION', payload: { name: 'One', audioZoneId: 1, playlist: { tracks: [1, 2] } } });
    await a.c.nextOf('SESSIONS');
    a.c.send({ type: 'CREATE_SESSION', payload: { name: 'Two', playlist: { tracks: [] } } });
    await a.c.nextOf('SESSIONS');
    a.c.send({ type: 'UPDATE_SESSION', payload: { sessionId: 1, profile: 'master', playbackTarget: { type: 'AUDIO_ZONE', audioZoneId: 1 }, play: true, volume: 0.25, seek: 33 } });
    a.c.send({ type: 'UPDATE_SESSION', payload: { sessionId: 2, profile: 'master', playbackTarget: { type: 'CALL_LEG', callId: 'call-7' }, play: true } });
    a.c.send({ type: 'UPDATE_SESSION', payload: { sessionId: 2, profile: 'master', playbackTarget: { type: 'CALL_LEG', callId: 'call-7' }, playing: false, seek: 5 } });
    a.c.send({ type: 'GET_SESSIONS' });
    const before = (await a.c.nextOf('SESSIONS')).payload;
    await first.stop();
    await a.c.closed;

    // Restart: new routes, new supervisor, same store; a short pause timeout to see timers re-armed.
    const second = await start({ store, pauseTimeoutMs: 30 });
    try {
      const b = await join(second.port);
      assert.deepEqual(b.sessions[0], before[0]);
      assert.equal(b.sessions[0].playing, true);
      assert.equal(b.sessions[0].volume, 0.25);
      assert.equal(b.sessions[1].name, 'Two');
      assert.equal(b.sessions[1].playing, false);
      assert.deepEqual(b.sessions[1].playbackTarget, { type: 'CALL_LEG', callId: 'call-7' });
      // The paused session's pause timer was re-armed after restore (it may already have fired
      // before this client joined): eventually it is stopped and rewound.
      let seek: number | null = null;
      for (let i = 0; i < 300 && seek !== 0; i++) {
        b.c.send({ type: 'GET_SESSIONS' });
        seek = (await b.c.nextOf('SESSIONS')).payload[1].seek;
        if (seek !== 0) await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(seek, 0, 'paused session never timed out after restore');
      b.c.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: 'phone', name: 'Phone', players: [] } });
      const conns = (await b.c.nextOf('CONNECTIONS')).payload;
      assert.deepEqual(conns.map((c: any) => [c.connectionId, c.alive, c.players.length]), [
        ['tv', false, 1],
        ['phone', true, 0],
      ]);
      // Ids keep counting from where the first run stopped.
      b.c.send({ type: 'CREATE_SESSION', payload: { name: 'Three', playlist: { tracks: [] } } });
      assert.deepEqual((await b.c.nextOf('SESSIONS')).payload.map((s: any) => s.sessionId), [1, 2, 3]);
      assert.equal(second.routes.publish({ type: 'AUDIO_ZONE_WITH_SESSIONS' }), 1);
      assert.deepEqual((await b.c.nextOf('AUDIO_ZONE_WITH_SESSIONS')).payload, [{ id: 1, sessionId: 1, name: 'Den', players: [] }]);
      b.c.ws.close();
      await b.c.closed;
    } finally {
      await second.stop();
    }
  }

  test('restart over the same file store restores sessions, zones and connections', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'callchart-playback-'));
    try {
      await scenario(createFileStore({ dir, debounceMs: 5 }));
      const saved = JSON.parse(await readFile(path.join(dir, 'playback.json'), 'utf8'));
      assert.equal(saved.version, 1);
      assert.equal(saved.sessions.length, 3);
      assert.deepEqual(await readdir(dir), ['playback.json'], 'no temp files left behind');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('restart over the in-memory store', async () => {
    const store = createMemoryStore();
    await scenario(store);
    assert.ok(store.saves > 0);
  });

  test('a corrupt state file is reported and the server starts empty', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'callchart-playback-'));
    try {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(path.join(dir, 'playback.json'), '{"version":1,');
      const srv = await start({ store: createFileStore({ dir }) });
      const a = await join(srv.port);
      assert.deepEqual(a.sessions, []);
      a.c.ws.close();
      await a.c.closed;
      await srv.stop();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
