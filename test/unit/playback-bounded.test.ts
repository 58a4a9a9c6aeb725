import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  checkJson,
  createFileStore,
  defaultPlaybackLimits,
  emptyPlaybackState,
  PlaybackStoreError,
  sanitizeState,
  TRACK_BOUNDS,
  type JsonBounds,
  type PlaybackState,
} from '../../src/playback/index.js';

const bounds: JsonBounds = { maxDepth: 3, maxStringLength: 5, maxObjectKeys: 2, maxArrayLength: 3, maxSize: 40 };

test('checkJson: size is the JSON length; each bound is reported with its path', () => {
  for (const v of [null, true, 12.5, 'abc', [1, [2, ['x']]], { a: { b: null } }]) {
    assert.deepEqual(checkJson(v, bounds), { ok: true, size: JSON.stringify(v).length }, JSON.stringify(v));
  }
  assert.deepEqual(checkJson('a"\n', bounds), { ok: true, size: JSON.stringify('a"\n').length }, 'escapes count');
  const no = (v: unknown) => {
    const r = checkJson(v, bounds);
    assert.equal(r.ok, false, JSON.stringify(v));
    return r.ok ? undefined : { reason: r.reason, path: r.path.join('.') };
  };
  assert.deepEqual(no([[[[1]]]]), { reason: 'nested deeper than 3 levels', path: '0.0.0' });
  assert.deepEqual(no({ a: 'toolong' }), { reason: 'string longer than 5 characters', path: 'a' });
  assert.deepEqual(no({ a: 1, b: 2, c: 3 }), { reason: 'object with more than 2 keys', path: '' });
  assert.deepEqual(no([1, 2, 3, 4]), { reason: 'array longer than 3 items', path: '' });
  assert.deepEqual(no({ longkey: 1 }), { reason: 'key longer than 5 characters', path: '' });
  assert.match(no(['aaaaa', 'bbbbb', ['ccccc', 'ddddd', 'eeeee']])!.reason, /larger than 40 characters/);
  assert.match(no({ a: undefined })!.reason, /not a JSON value/);
  assert.match(no([Number.NaN])!.reason, /finite/);
  assert.match(no(new Date())!.reason, /not a JSON value/);
});

test('checkJson walks without recursion: a 1 000 000-deep array is refused, not a stack overflow', () => {
  const text = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
  const r = checkJson(JSON.parse(text), TRACK_BOUNDS);
  assert.equal(r.ok, false);
});

test('track bounds refuse keys XState would rewrite when persisting', () => {
  assert.match(String(!checkJson({ a: { xstate$$type: 1, id: 'x' } }, TRACK_BOUNDS).ok && 'refused'), /refused/);
  const ref = checkJson({ trackId: 1, x: { sessionId: 1, send: 1, ref: 1 } }, TRACK_BOUNDS);
  assert.ok(!ref.ok && /actor reference/.test(ref.reason));
  const proto = checkJson(JSON.parse('{"__proto__":{"polluted":1}}'), TRACK_BOUNDS);
  assert.ok(!proto.ok && /reserved/.test(proto.reason));
  // A MoosicBox ApiTrack passes.
  const apiTrack = {
    trackId: 12, number: 3, title: 'Song', duration: 201.4, album: 'LP', albumId: 4, albumType: 'LP', dateReleased: '2001-01-01',
    artist: 'Band', artistId: 2, containsCover: true, blur: false, format: 'FLAC', bitDepth: 16, sampleRate: 44100, channels: 2,
    trackSource: 'LOCAL', apiSource: 'Library', sources: [{ source: 'Tidal', id: '123' }],
  };
  assert.equal(checkJson(apiTrack, TRACK_BOUNDS).ok, true);
});

test('file store: a state that cannot be serialised fails the save, not the process (debounced timer)', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'callchart-store-'));
  try {
    const store = createFileStore({ dir, debounceMs: 1 });
    await store.save(emptyPlaybackState());
    const bad = emptyPlaybackState() as PlaybackState & { loop?: unknown };
    bad.loop = bad;
    await assert.rejects(store.save(bad), PlaybackStoreError);
    await assert.rejects(store.flush().then(() => store.save(bad)), PlaybackStoreError);
    // The last good file is intact and the store keeps working.
    assert.equal(JSON.parse(await readFile(store.file, 'utf8')).version, 1);
    await store.save({ ...emptyPlaybackState(), nextSessionId: 9 });
    assert.equal(JSON.parse(await readFile(store.file, 'utf8')).nextSessionId, 9);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('file store: an unreadable file is kept aside before load() reports it', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'callchart-store-'));
  try {
    await writeFile(path.join(dir, 'playback.json'), '[1,2');
    await assert.rejects(createFileStore({ dir }).load(), /not valid JSON \(kept as .*playback\.json\.corrupt-/);
    assert.deepEqual((await readdir(dir)).map((f) => f.replace(/-[\dTZ-]+$/, '')), ['playback.json.corrupt']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('sanitizeState keeps what is valid and names what it skipped', () => {
  const ctx = (sessionId: number, tracks: unknown[]) => ({
    sessionId, name: 's', active: false, position: null, seek: null, volume: null, target: null, profile: null, quality: null,
    playlist: { sessionPlaylistId: sessionId, tracks },
  });
  const { state, problems } = sanitizeState(
    {
      version: 1,
      nextSessionId: 'x',
      nextAudioZoneId: 1e300,
      nextPlayerId: 1,
      sessions: [
        { sessionId: 1, owner: 'alice', sharedWith: ['bob'], snapshot: { status: 'active', value: 'playing', context: ctx(1, [{ trackId: 1 }]), children: { evil: { src: 'x' } } } },
        { sessionId: 2, snapshot: { status: 'active', value: 'playing', context: ctx(2, [{ t: 'x'.repeat(5000) }]) } },
        { sessionId: 3, snapshot: { status: 'done', value: 'deleted', context: ctx(3, []) } },
      ],
      audioZones: 'nope',
      connections: [{ connectionId: 'c', name: 'n', players: [], owner: 7 }],
    },
    defaultPlaybackLimits,
  );
  assert.deepEqual(state.sessions, [
    { sessionId: 1, owner: 'alice', sharedWith: ['bob'], snapshot: { status: 'active', value: 'playing', context: ctx(1, [{ trackId: 1 }]), children: {}, historyValue: {} } },
  ]);
  assert.equal(state.nextSessionId, 2);
  assert.equal(state.nextAudioZoneId, 1);
  assert.deepEqual(state.connections, []);
  assert.equal(problems.length, 4);
  assert.match(problems.join('\n'), /sessions\.1: snapshot\.context\.playlist\.tracks\.0\.t: string longer than 4096/);
  assert.match(problems.join('\n'), /audioZones: not an array/);
  assert.deepEqual(sanitizeState('garbage', defaultPlaybackLimits).problems, ['not a playback state (version 1)']);
});
