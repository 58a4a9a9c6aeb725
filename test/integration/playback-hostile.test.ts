// Issue 13, finding 1: hostile input on /playback must not crash the server or break other
// clients, and a hostile or corrupt data file must not stop it from starting. These run the real
// CLI server (`callchart serve`) in a child process, as the finding was reproduced.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestClient } from '../helpers/ws-client.js';

interface Server {
  proc: ChildProcess;
  port: number;
  output: () => string;
  exited: Promise<number | null>;
}

async function startServer(dataDir: string): Promise<Server> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', 'serve', '--host', '127.0.0.1', '--ws-port', '0', '--sip-port', 'off', '--data-dir', dataDir, '--log-level', 'info'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 20_000);
    const check = () => {
      const m = /"ws":"ws:\/\/127\.0\.0\.1:(\d+)\/"/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    };
    proc.stdout!.on('data', check);
    void exited.then((code) => reject(new Error(`server exited (${code}) before it was ready: ${out}`)));
  });
  return { proc, port, output: () => out, exited };
}

async function sigterm(srv: Server): Promise<number | null> {
  if (srv.proc.exitCode !== null) return srv.proc.exitCode;
  srv.proc.kill('SIGTERM');
  return srv.exited;
}

async function client(port: number): Promise<TestClient> {
  const c = new TestClient(`ws://127.0.0.1:${port}/playback`);
  await c.opened();
  return c;
}

/** `[[[…0…]]]` nested `depth` times, as JSON text (40 KB at 20 000). */
const nested = (depth: number) => '['.repeat(depth) + '0' + ']'.repeat(depth);

const target = { type: 'AUDIO_ZONE', audioZoneId: 1 };
const deepUpdate = (depth: number) =>
  `{"type":"UPDATE_SESSION","payload":{"sessionId":1,"profile":"master","playbackTarget":${JSON.stringify(target)},` +
  `"playlist":{"sessionPlaylistId":1,"tracks":[{"trackId":1,"x":${nested(depth)}}]}}}`;

async function statusOk(port: number): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${port}/status`);
  return res.status === 200 && (await res.text()) === 'ok';
}

/** The persisted file, parsed (it must be valid JSON). */
async function savedState(dir: string): Promise<any> {
  return JSON.parse(await readFile(path.join(dir, 'playback.json'), 'utf8'));
}

describe('playback: hostile input against a real server process', () => {
  test('a 20 000-deep track is refused with INVALID_PAYLOAD; the server lives on and saves', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'callchart-hostile-'));
    const srv = await startServer(dir);
    try {
      const a = await client(srv.port);
      a.send({ type: 'CREATE_SESSION', payload: { name: 'Kitchen', playlist: { tracks: [7] } } });
      await a.json('SESSIONS');
      a.send(deepUpdate(20_000));
      const err = await a.json('ERROR');
      // The sequence that killed the process (exit 1 in XState's persistContext): a registration
      // right after, which persists.
      a.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: 'phone', name: 'Phone', players: [] } });
      assert.equal((await a.json('CONNECTIONS')).payload[0].connectionId, 'phone');
      a.send({ type: 'GET_SESSIONS' });
      const sessions = (await a.json('SESSIONS')).payload;
      assert.deepEqual(sessions[0].playlist, { sessionPlaylistId: 1, tracks: [{ trackId: 7 }] }, 'the session is unchanged');

      // Still alive and answering, for a new client too.
      const b = await client(srv.port);
      b.send({ type: 'GET_SESSIONS' });
      assert.equal((await b.json('SESSIONS')).payload.length, 1);
      assert.ok(await statusOk(srv.port));
      assert.equal(srv.proc.exitCode, null);
      assert.equal(err.payload.code, 'INVALID_PAYLOAD');
      assert.equal(err.payload.request, 'UPDATE_SESSION');
      assert.match(err.payload.reason, /playlist\.tracks\.0\.x.*nested deeper than 8 levels/);
      a.close();
      b.close();

      assert.equal(await sigterm(srv), 0, srv.output());
      const saved = await savedState(dir);
      assert.equal(saved.sessions.length, 1);
      assert.deepEqual(saved.connections.map((c: any) => c.connectionId), ['phone']);
    } finally {
      srv.proc.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a 6 000-deep track leaves GET_SESSIONS working for another client and SIGTERM exits 0 with a valid file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'callchart-hostile-'));
    const srv = await startServer(dir);
    try {
      const a = await client(srv.port);
      const b = await client(srv.port);
      a.send({ type: 'CREATE_SESSION', payload: { name: 'Den', playlist: { tracks: [] } } });
      await a.json('SESSIONS');
      await b.json('SESSIONS');
      a.send(deepUpdate(6_000));
      const err = await a.json('ERROR');
      b.send({ type: 'GET_SESSIONS' });
      const f = await b.json();
      // A legitimate update still goes through and reaches the other client.
      a.send({ type: 'UPDATE_SESSION', payload: { sessionId: 1, profile: 'master', playbackTarget: target, play: true } });
      const updated = await b.json('SESSION_UPDATED');
      a.close();
      b.close();
      const exitCode = await sigterm(srv);
      let saved: any;
      try {
        saved = await savedState(dir);
      } catch (e) {
        saved = String(e);
      }
      // Collected first and compared at once, so a failure shows every symptom together.
      assert.deepEqual(
        {
          refused: err.payload.code,
          otherClientGot: f.type === 'SESSIONS' ? `SESSIONS ${f.payload[0]?.name}` : JSON.stringify(f),
          updatedPlaying: updated.payload.playing,
          exitCode,
          savedState: saved?.sessions?.[0]?.snapshot?.value ?? saved,
        },
        { refused: 'INVALID_PAYLOAD', otherClientGot: 'SESSIONS Den', updatedPlaying: true, exitCode: 0, savedState: 'playing' },
        srv.output().slice(-2000),
      );
      assert.doesNotMatch(srv.output(), /"level":50/, 'no error was logged');
    } finally {
      srv.proc.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('playback: a hostile or corrupt data file on start', () => {
  const snapshot = (sessionId: number, name: string, tracks: string, value = 'stopped') =>
    `{"status":"active","value":"${value}","historyValue":{},"children":{},"context":{"sessionId":${sessionId},"name":"${name}",` +
    `"active":false,"position":null,"seek":null,"volume":null,"target":null,"profile":null,"quality":null,` +
    `"playlist":{"sessionPlaylistId":${sessionId},"tracks":${tracks}}}}`;

  test('bad entries are skipped and kept aside, good ones restored, and the server serves and saves', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'callchart-hostile-'));
    const file =
      `{"version":1,"nextSessionId":-7,"nextAudioZoneId":1,"nextPlayerId":1,"sessions":[` +
      `{"sessionId":1,"snapshot":${snapshot(1, 'good', '[{"trackId":1}]', 'paused')}},` +
      `{"sessionId":2,"snapshot":${snapshot(2, 'deep', `[{"x":${nested(6_000)}}]`)}},` +
      `{"sessionId":3,"snapshot":${snapshot(3, 'bogus state', '[]', 'exploded')}},` +
      `{"sessionId":4,"snapshot":${snapshot(4, 'actor ref', '[{"a":{"xstate$$type":1,"id":"x"}}]')}},` +
      `{"sessionId":5,"snapshot":${snapshot(99, 'id mismatch', '[]')}},` +
      `{"sessionId":1,"snapshot":${snapshot(1, 'duplicate', '[]')}}` +
      `],"audioZones":[{"id":1,"name":"Den","players":[]},{"id":2,"name":"${'n'.repeat(300)}","players":[]}],` +
      `"connections":[{"connectionId":"tv","name":"TV","players":[{"playerId":4,"audioOutputId":"hdmi","name":"HDMI","playing":false}]},"junk"]}`;
    await writeFile(path.join(dir, 'playback.json'), file);
    const srv = await startServer(dir);
    try {
      const a = await client(srv.port);
      a.send({ type: 'GET_SESSIONS' });
      const sessions = (await a.json('SESSIONS')).payload;
      assert.deepEqual(sessions.map((s: any) => [s.sessionId, s.name]), [[1, 'good']]);
      a.send({ type: 'REGISTER_CONNECTION', payload: { connectionId: 'phone', name: 'Phone', players: [{ audioOutputId: 'spk', name: 'Speaker' }] } });
      const conns = (await a.json('CONNECTIONS')).payload;
      assert.deepEqual(conns.map((c: any) => c.connectionId), ['tv', 'phone']);
      assert.equal(conns[1].players[0].playerId, 5, 'player ids continue above the stored ones');
      // Ids are never reused, whatever the file's counter said.
      a.send({ type: 'CREATE_SESSION', payload: { name: 'new', playlist: { tracks: [] } } });
      assert.deepEqual((await a.json('SESSIONS')).payload.map((s: any) => s.sessionId), [1, 2]);
      a.close();
      assert.match(srv.output(), /stored playback entries refused/);
      const copies = (await readdir(dir)).filter((f) => f.startsWith('playback.json.rejected-'));
      assert.equal(copies.length, 1, 'the refused file is kept for the operator');
      assert.equal(await readFile(path.join(dir, copies[0]!), 'utf8'), file);

      assert.equal(await sigterm(srv), 0, srv.output());
      const saved = await savedState(dir);
      assert.deepEqual(saved.sessions.map((s: any) => s.snapshot.context.name), ['good', 'new']);
      assert.deepEqual(saved.audioZones.map((z: any) => z.id), [1]);
    } finally {
      srv.proc.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('an unreadable file is set aside, the server starts empty and saves a fresh one', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'callchart-hostile-'));
    await writeFile(path.join(dir, 'playback.json'), '{"version":1,"sessions":[{"sessionId":1,');
    const srv = await startServer(dir);
    try {
      const a = await client(srv.port);
      a.send({ type: 'GET_SESSIONS' });
      assert.deepEqual((await a.json('SESSIONS')).payload, []);
      a.send({ type: 'CREATE_SESSION', payload: { name: 'fresh', playlist: { tracks: [] } } });
      await a.json('SESSIONS');
      a.close();
      assert.equal(await sigterm(srv), 0, srv.output());
      const files = await readdir(dir);
      const aside = files.filter((f) => f.startsWith('playback.json.corrupt-'));
      assert.equal(aside.length, 1, `the corrupt file is kept: ${files.join(', ')}`);
      assert.equal(await readFile(path.join(dir, aside[0]!), 'utf8'), '{"version":1,"sessions":[{"sessionId":1,');
      assert.equal((await savedState(dir)).sessions[0].snapshot.context.name, 'fresh');
    } finally {
      srv.proc.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
