// The feature-server's `conference` verb over real loopback sockets: SIP calls from a caller
// engine's UAC reach an engine with `jambonzApp` (an in-process hook handler) and `rooms`; the app
// answers `conference` by the called user. Checked: two members hear each other (Goertzel on each
// side); a member with endConferenceOnExit hanging up ends the conference, the other member's
// actionHook arrives with its call still up and its reply (hangup) runs; statusHook events in
// order; maxParticipants refuses a third caller with jambonz:error and the app's next verb runs;
// startConferenceOnEnter false waits (hearing its waitHook) until a starter comes; joinMuted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { toneRatio } from '../../src/media/codecs/tones.js';
import type { JambonzHookData, JambonzSession } from '../../src/jambonz/index.js';
import type { Call } from '../../src/call/call.js';
import type { Engine } from '../../src/index.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { collectAudio, toneWav } from '../helpers/jambonz-fs-app.js';
import { sleep, waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'cc-jfs-conf-'));
const tone = (hz: number): string => toneWav(dir, hz);
const toneA = tone(600);
const toneB = tone(1400);

// RTP ports from 47000 (this helper's range; the interop test's 47060-47099 never runs beside it),
// 10 per engine; each test starts over at 47000 once the one before closed its engines.
let engines = loopbackEngines(47000, 10);

const listen = collectAudio;

interface Rig {
  fs: Engine;
  caller: Engine;
  hooks: Array<{ name: string; to: string; data: JambonzHookData }>;
  errors: string[];
  /** Each called user's session (the last one). */
  sessions: Map<string, JambonzSession>;
  call(user: string): Promise<Call>;
}

/** The feature-server runs an app that answers each call with the verbs `byUser` names for its called user. */
async function rig(byUser: Record<string, Array<Record<string, unknown>>>, replies: Record<string, Array<Record<string, unknown>>> = {}): Promise<Rig> {
  const hooks: Rig['hooks'] = [];
  const errors: string[] = [];
  const sessions = new Map<string, JambonzSession>();
  const fs = await engines.start({
    wsPort: 0,
    rooms: {},
    logger: pino({ level: process.env.CONF_LOG ?? 'silent' }),
    jambonzApp: {
      handler: (s: JambonzSession) => {
        const to = String(s.request.to);
        sessions.set(to, s);
        s.on('jambonz:error', (d) => void errors.push(String((d as { msg?: unknown }).msg)));
        // statusHook events want no reply (a reply could answer a newer hook, or go as a redirect
        // when several arrive in one read): left unanswered, the next hook supersedes them.
        s.on('error', () => {});
        s.on('verb:hook', (name, data) => {
          hooks.push({ name, to, data });
          if (name !== '/status') s.reply((replies[name] ?? []) as never);
        });
        s.reply((byUser[to] ?? [{ verb: 'hangup' }]) as never);
      },
    },
  });
  const caller = await engines.start({ wsPort: false });
  return { fs, caller, hooks, errors, sessions, call: (user) => caller.call(`sip:${user}@127.0.0.1:${fs.sipPort}`) };
}

const callLegs = (e: Engine, id: string): number => e.room(id).members().filter((m) => m.kind === 'call-leg').length;

test('conference: two members hear each other; the endConferenceOnExit member hangs up → the other gets its actionHook, whose hangup runs; statusHook events', async (t) => {
  engines = loopbackEngines(47000, 10);
  t.after(() => engines.closeAll());
  const status = ['start', 'join', 'leave', 'end'];
  const r = await rig(
    {
      mod: [{ verb: 'conference', name: 'team', endConferenceOnExit: true, statusHook: '/status', statusEvents: status }],
      guest: [{ verb: 'conference', name: 'team', actionHook: '/after', statusHook: '/status', statusEvents: status }],
    },
    { '/after': [{ verb: 'hangup' }] },
  );
  const a = await r.call('mod');
  await waitFor(() => a.isActive, 'the moderator is answered');
  await waitFor(() => callLegs(r.fs, 'jconf.team') === 1, 'the moderator is in room jconf.team');
  const b = await r.call('guest');
  await waitFor(() => b.isActive, 'the guest is answered');
  await waitFor(() => callLegs(r.fs, 'jconf.team') === 2, 'both in room jconf.team');
  const heardByA = listen(a);
  const heardByB = listen(b);
  a.play(toneA);
  b.play(toneB);
  await sleep(1500);
  const atA = heardByA();
  const atB = heardByB();
  assert.ok(toneRatio(atA, 8000, 1400) > 0.4, `the moderator hears the guest's 1400 Hz (ratio ${toneRatio(atA, 8000, 1400).toFixed(2)})`);
  assert.ok(toneRatio(atA, 8000, 600) < 0.05, `the moderator does not hear itself (ratio ${toneRatio(atA, 8000, 600).toFixed(2)})`);
  assert.ok(toneRatio(atB, 8000, 600) > 0.4, `the guest hears the moderator's 600 Hz (ratio ${toneRatio(atB, 8000, 600).toFixed(2)})`);

  a.hangup();
  await waitFor(() => r.hooks.some((h) => h.name === '/after'), 'the guest actionHook');
  const after = r.hooks.find((h) => h.name === '/after')!;
  assert.equal(after.to, 'guest');
  assert.equal(after.data.call_status, 'in-progress', 'the guest call is still up when its actionHook goes');
  await waitFor(() => b.isEnded, "the actionHook's hangup ends the guest");
  assert.equal(r.fs.featureServer!.conferences.size, 0, 'no conference left');

  const events = r.hooks.filter((h) => h.name === '/status').map((h) => `${h.to}:${String(h.data.event)}:${String(h.data.members)}`);
  assert.deepEqual(events.slice(0, 3), ['mod:start:1', 'mod:join:1', 'guest:join:2']);
  // The moderator's own leave/end go out after its call:status completed closed its app session;
  // the guest, removed when the conference ended, reports leave and end.
  assert.deepEqual(events.slice(3).filter((e) => e.startsWith('guest:')), ['guest:leave:0', 'guest:end:0']);
  const start = r.hooks.find((h) => h.name === '/status')!.data;
  assert.equal(start.friendlyName, 'team');
  assert.match(String(start.conferenceSid), /^conf:.+:team$/);
  assert.deepEqual(r.errors, []);
});

test('conference: maxParticipants 2 refuses the third caller with jambonz:error and its next verb runs; the two members stay', async (t) => {
  engines = loopbackEngines(47000, 10);
  t.after(() => engines.closeAll());
  const r = await rig({
    cap: [
      { verb: 'conference', name: 'small', maxParticipants: 2 },
      { verb: 'hangup' },
    ],
  });
  const c1 = await r.call('cap');
  await waitFor(() => callLegs(r.fs, 'jconf.small') === 1, 'first member in');
  const c2 = await r.call('cap');
  await waitFor(() => callLegs(r.fs, 'jconf.small') === 2, 'second member in');
  const c3 = await r.call('cap');
  await waitFor(() => c3.isEnded, 'the third call is hung up by the verb after the refused conference');
  assert.ok(r.errors.some((e) => /full \(maxParticipants\)/.test(e)), `jambonz:error says full: ${r.errors.join(' | ')}`);
  await sleep(200);
  assert.ok(c1.isActive && c2.isActive, 'the two members stay');
  assert.equal(callLegs(r.fs, 'jconf.small'), 2);
  c1.hangup();
  // A member alone stays in the conference (no endConferenceOnExit): nothing ends it.
  await waitFor(() => callLegs(r.fs, 'jconf.small') === 1, 'the first member left');
  await sleep(300);
  assert.ok(c2.isActive, 'the last member stays in the conference');
  c2.hangup();
  await waitFor(() => r.fs.featureServer!.conferences.size === 0, 'the conference is gone with its last member');
});

test('conference: startConferenceOnEnter false waits, hearing its waitHook, until a starter comes; a conference with no one left ends', async (t) => {
  engines = loopbackEngines(47000, 10);
  t.after(() => engines.closeAll());
  const r = await rig(
    {
      early: [{ verb: 'conference', name: 'later', startConferenceOnEnter: false, waitHook: '/wait', actionHook: '/early-after' }],
      host: [{ verb: 'conference', name: 'later', endConferenceOnExit: true }],
    },
    { '/wait': [{ verb: 'pause', length: 0.3 }], '/early-after': [{ verb: 'pause', length: 30 }] },
  );
  const w = await r.call('early');
  await waitFor(() => r.hooks.filter((h) => h.name === '/wait').length >= 2, 'the waitHook asked again and again');
  assert.equal(callLegs(r.fs, 'jconf.later'), 0, 'nobody in the room before the start');
  const wait = r.hooks.find((h) => h.name === '/wait')!.data;
  assert.equal(wait.friendlyName, 'later');
  const h = await r.call('host');
  await waitFor(() => callLegs(r.fs, 'jconf.later') === 2, 'the host starts it and the waiter joins');
  const waits = r.hooks.filter((x) => x.name === '/wait').length;
  await sleep(1500);
  assert.ok(r.hooks.filter((x) => x.name === '/wait').length <= waits + 1, 'no more waitHooks once in');
  h.hangup();
  await waitFor(() => r.hooks.some((x) => x.name === '/early-after'), "the waiter's actionHook once the host ended it");
  assert.ok(w.isActive, 'the waiter is still up, in its next verb');
  assert.equal(callLegs(r.fs, 'jconf.later'), 0);
  w.hangup();
  assert.deepEqual(r.errors, []);
});

test('conference: joinMuted — the others do not hear the muted member, it hears them', async (t) => {
  engines = loopbackEngines(47000, 10);
  t.after(() => engines.closeAll());
  const r = await rig({
    quiet: [{ verb: 'conference', name: 'hush', joinMuted: true }],
    loud: [{ verb: 'conference', name: 'hush' }],
  });
  const q = await r.call('quiet');
  await waitFor(() => callLegs(r.fs, 'jconf.hush') === 1, 'the muted member is in');
  const l = await r.call('loud');
  await waitFor(() => callLegs(r.fs, 'jconf.hush') === 2, 'both in');
  assert.deepEqual(r.fs.room('jconf.hush').members().map((m) => m.muted), [true, false]);
  const heardByQ = listen(q);
  const heardByL = listen(l);
  q.play(toneA);
  l.play(toneB);
  await sleep(1500);
  const atQ = heardByQ();
  const atL = heardByL();
  assert.ok(toneRatio(atQ, 8000, 1400) > 0.4, `the muted member hears the other (ratio ${toneRatio(atQ, 8000, 1400).toFixed(2)})`);
  assert.ok(toneRatio(atL, 8000, 600) < 0.05, `the other does not hear the muted member (ratio ${toneRatio(atL, 8000, 600).toFixed(2)})`);
  q.hangup();
  l.hangup();
});

test('conference: mute:status mutes and unmutes the member (conference.js mute): the others stop hearing it, then hear it again', async (t) => {
  engines = loopbackEngines(47000, 10);
  t.after(() => engines.closeAll());
  const r = await rig({ one: [{ verb: 'conference', name: 'talk' }], two: [{ verb: 'conference', name: 'talk' }] });
  const one = await r.call('one');
  await waitFor(() => callLegs(r.fs, 'jconf.talk') === 1, 'one is in');
  const two = await r.call('two');
  await waitFor(() => callLegs(r.fs, 'jconf.talk') === 2, 'both in');
  one.play(toneA);
  await sleep(400);
  let heard = listen(two);
  await sleep(600);
  assert.ok(toneRatio(heard(), 8000, 600) > 0.4, 'two hears one');
  r.sessions.get('one')!.command('mute:status', { mute_status: 'mute' });
  await waitFor(() => r.fs.room('jconf.talk').members().some((m) => m.muted), 'one muted in the room');
  await sleep(150);
  heard = listen(two);
  await sleep(600);
  assert.ok(toneRatio(heard(), 8000, 600) < 0.05, 'two no longer hears one');
  r.sessions.get('one')!.command('mute:status', { mute_status: 'unmute' });
  await waitFor(() => r.fs.room('jconf.talk').members().every((m) => !m.muted), 'one unmuted');
  await sleep(150);
  heard = listen(two);
  await sleep(600);
  assert.ok(toneRatio(heard(), 8000, 600) > 0.4, 'two hears one again');
  assert.deepEqual(r.errors, []);
  one.hangup();
  two.hangup();
});
