// The bot's audio plays on the pacer's soonest slot beat: an utterance's first frame waits 2–7 ms
// for its beat, not up to a whole 20 ms interval, and a real-time bot's next frames keep that
// phase; a frame that missed its beat plays on arrival. A real bot (the Twilio simulator) on loopback; the pacer's clock is driven by the test,
// so the beats each frame plays on are exact.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Pacer } from '../../src/media/pacer.js';
import { memoryLegPair } from '../../src/media/leg.js';
import { Supervisor } from '../../src/actors/supervisor.js';
import { silentLogger } from '../../src/logger.js';
import { MediaStreamRuntime } from '../../src/streams/runtime.js';
import { TwilioBotSim, sine } from '../helpers/twilio-bot-sim.js';
import { waitFor } from '../helpers/wait.js';

/** A pacer clock the test moves: timers fire only inside advance(). */
function manualClock() {
  let now = 0;
  let pending: { at: number; fn: () => void } | null = null;
  return {
    now: () => now,
    setTimer: (fn: () => void, ms: number) => (pending = { at: now + ms, fn }),
    clearTimer: (h: unknown) => {
      if (pending === h) pending = null;
    },
    /** Move to `to` ms, firing each timer due on the way at its own time. */
    advance(to: number) {
      while (pending && pending.at <= to) {
        const p = pending;
        pending = null;
        now = p.at;
        p.fn();
      }
      now = to;
    },
    /** The event loop stalls until `to`: the one pending timer fires late, at `to`. */
    stall(to: number) {
      now = to;
      const p = pending;
      if (p && p.at <= to) {
        pending = null;
        p.fn();
      }
    },
  };
}

const logger = silentLogger();
const supervisor = new Supervisor({ logger });
let bot: TwilioBotSim | undefined;
after(async () => {
  supervisor.stopAll();
  await bot?.close();
});

test("a bot's utterance plays on the soonest slot beat after it arrives, and a real-time bot keeps that phase", async () => {
  const clock = manualClock();
  const pacer = new Pacer({ now: clock.now, setTimer: clock.setTimer, clearTimer: clock.clearTimer });
  const runtime = new MediaStreamRuntime(supervisor, logger, pacer);
  bot = await TwilioBotSim.start();
  const [leg, far] = memoryLegPair();
  /** The pacer time each frame the call's far end hears was written at. */
  const heardAt: number[] = [];
  far.onAudio(() => heardAt.push(clock.now()));

  const started = bot.nextStarted();
  const stream = runtime.start({ id: 'call-1', leg, hangup: () => {}, onDtmf: () => () => {} }, bot.url, { fallback: 'continue' });
  const conn = await started;
  clock.advance(43); // beats of the shared clock at 20 and 40: nothing queued yet

  /** The bot sends one 20 ms frame at pacer time `at`; resolves once the stream has queued it. */
  const frameAt = async (at: number): Promise<void> => {
    clock.advance(at);
    const before = stream.stats.queuedBytes;
    conn.sendAudio(sine(440, 20));
    await waitFor(() => stream.stats.queuedBytes === before + 160, 'bot frame queued', 3000);
  };

  // First frame at 43 ms: the soonest beat at least 2 ms later is 45 (the shared beat would be 60).
  await frameAt(43);
  clock.advance(59);
  assert.deepEqual(heardAt, [45]);

  // The bot answers in real time: its next frames keep that phase, even one that comes early in
  // the interval (72 ms: the soonest beat would be 75, the stream's is 85).
  await frameAt(63);
  await frameAt(72);
  clock.advance(99);
  assert.deepEqual(heardAt, [45, 65, 85]);

  // A frame too late for its beat (105 found the queue dry) plays when it arrives, at 107, not
  // on the next beat; the one after it is on time for 125.
  clock.advance(106);
  const played = stream.stats.playedFrames;
  conn.sendAudio(sine(440, 20));
  clock.advance(107);
  await waitFor(() => stream.stats.playedFrames === played + 1, 'late frame played on arrival', 3000);
  assert.equal(stream.stats.queuedBytes, 0);
  await frameAt(123);
  clock.advance(139);
  assert.deepEqual(heardAt, [45, 65, 85, 107, 125]);

  // A pause (the queue dry for 10 beats, 200 ms) ends the utterance: the next one takes the
  // soonest beat again (371 + 2 → 375).
  clock.advance(370);
  await frameAt(371);
  clock.advance(400);
  assert.deepEqual(heardAt, [45, 65, 85, 107, 125, 375]);
  assert.equal(stream.stats.playedFrames, 6);

  // The beat at 395 found the queue dry, so the next frame plays on arrival (401), and the one
  // after it on its beat (415).
  clock.advance(401);
  conn.sendAudio(sine(440, 20));
  await waitFor(() => stream.stats.playedFrames === 7, 'frame played on arrival', 3000);
  await frameAt(414);
  clock.advance(420);
  // A stall longer than the pacer makes up (420 → 540): it skips ahead and runs one beat, at 535's
  // place. The bot's seven frames of the stall were queued meanwhile; the five beats skipped are
  // owed, so six play at once instead of each waiting behind the others for the rest of the call.
  for (let i = 0; i < 7; i++) await frameAt(420);
  clock.stall(540);
  assert.deepEqual(heardAt.slice(6), [401, 415, 540, 540, 540, 540, 540, 540]);
  assert.equal(stream.stats.queuedBytes, 160, 'one frame beyond what five owed beats make up');
  assert.deepEqual(conn.problems, []);

  stream.stop();
  await stream.done;
  leg.close();
  pacer.stop();
});
