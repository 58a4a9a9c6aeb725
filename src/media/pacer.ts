// One drift-corrected 20 ms clock shared by many media sessions. Per-session setInterval at
// 500+ calls means 500 timers each drifting on its own; here one timer fires and walks a list.
//
// Phases: the interval is cut into `phases` slots (default 4: 5 ms apart). `add()` subscribes to
// slot 0, the 20 ms beat every mixer, recording and playback shares. `addSoonest()` subscribes to
// the slot whose next beat comes first after a lead time: a voice bot's audio that has just
// arrived then waits the lead plus at most one slot (2–7 ms with the stream's 2 ms lead) instead
// of up to 20 ms, and still plays exactly once per interval. The timer fires only for slots that have subscribers: with slot 0 alone it is the
// plain 20 ms clock.

import type { Logger } from 'pino';

export type PacerCallback = (tick: number) => void;

export interface PacerOptions {
  intervalMs?: number;
  /** Slots per interval that `addSoonest()` chooses from (default 4; 1 = no phases). */
  phases?: number;
  /** If the process stalls longer than this many ticks, skip ahead instead of bursting. */
  maxCatchUpTicks?: number;
  /** Injected for deterministic tests. */
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  logger?: Logger;
}

const NO_SUBSCRIBERS: readonly PacerCallback[] = Object.freeze([]);

export class Pacer {
  readonly intervalMs: number;
  /** Slots per interval, `intervalMs / phases` apart (`addSoonest()`). */
  readonly phases: number;
  private readonly stepMs: number;
  private readonly maxCatchUp: number;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private readonly log: Logger | undefined;
  // Per slot, copy-on-write: add/remove allocate, the tick loop does not, and removal during a tick is safe.
  private readonly slots: Array<readonly PacerCallback[]>;
  private count = 0;
  private handle: unknown = null;
  private origin = 0;
  /** Slot beats run since `origin` (slot = step % phases). */
  private step = 0;
  private skipped = 0;
  private firing = false;
  /** The step the armed timer is for. */
  private armedStep = 0;

  constructor(opts: PacerOptions = {}) {
    this.intervalMs = opts.intervalMs ?? 20;
    this.phases = Math.max(1, Math.floor(opts.phases ?? 4));
    this.stepMs = this.intervalMs / this.phases;
    this.maxCatchUp = opts.maxCatchUpTicks ?? 5;
    this.now = opts.now ?? (() => performance.now());
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as NodeJS.Timeout));
    this.log = opts.logger;
    this.slots = Array.from({ length: this.phases }, () => NO_SUBSCRIBERS);
  }

  get size(): number {
    return this.count;
  }

  /** Whole intervals since the clock (re)started. */
  get ticks(): number {
    return Math.floor(this.step / this.phases);
  }

  /** Ticks dropped after stalls longer than maxCatchUpTicks. */
  get skippedTicks(): number {
    return this.skipped;
  }

  /** Subscribe to the shared beat (slot 0); returns the unsubscribe function. The clock runs only while someone listens. */
  add(cb: PacerCallback): () => void {
    return this.addToSlot(cb, 0);
  }

  /**
   * Subscribe to the slot whose next beat comes first at least `leadMs` from now (audio that has
   * just arrived plays within one slot's length of the lead). Returns the unsubscribe function.
   * To move a subscription, add the new one before removing the old: with no subscriber left
   * between them the clock would restart, and its slots with it.
   */
  addSoonest(cb: PacerCallback, leadMs = 0): () => void {
    if (this.count === 0) this.restart();
    const next = Math.max(this.step + 1, Math.ceil((this.now() + leadMs - this.origin) / this.stepMs));
    return this.addToSlot(cb, next % this.phases);
  }

  /** Every subscription of `cb`. */
  remove(cb: PacerCallback): void {
    for (let s = 0; s < this.phases; s++) while (this.slots[s]!.includes(cb)) this.removeFrom(s, cb);
  }

  /** One subscription (what add()'s unsubscribe does: `cb` may also be subscribed elsewhere, as while a stream moves slot). */
  private removeFrom(slot: number, cb: PacerCallback): void {
    const subs = this.slots[slot]!;
    const i = subs.indexOf(cb);
    if (i < 0) return;
    const rest = subs.slice();
    rest.splice(i, 1);
    this.slots[slot] = rest.length ? rest : NO_SUBSCRIBERS;
    this.count--;
    // The armed beat may have been this slot's: no wake-up for nobody.
    if (!rest.length) this.rearm();
  }

  stop(): void {
    this.slots.fill(NO_SUBSCRIBERS);
    this.count = 0;
    if (this.handle !== null) this.clearTimer(this.handle);
    this.handle = null;
  }

  private addToSlot(cb: PacerCallback, slot: number): () => void {
    if (this.count === 0) this.restart();
    const wasEmpty = this.slots[slot]!.length === 0;
    this.slots[slot] = [...this.slots[slot]!, cb];
    this.count++;
    // A new slot may beat sooner than the armed timer; inside fire() the loop's end schedules.
    if (wasEmpty) this.rearm();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.removeFrom(slot, cb);
    };
  }

  private restart(): void {
    this.origin = this.now();
    this.step = 0;
  }

  /** The timer aimed at the next beat of a slot that has subscribers (none: no timer). */
  private rearm(): void {
    if (this.firing) return;
    const next = this.count > 0 ? this.nextStep() : -1;
    if (this.handle !== null && next === this.armedStep) return;
    if (this.handle !== null) this.clearTimer(this.handle);
    this.handle = null;
    if (next >= 0) this.schedule();
  }

  private nextStep(): number {
    let next = this.step + 1;
    while (this.slots[next % this.phases]!.length === 0) next++;
    return next;
  }

  private schedule(): void {
    // At the beat's absolute deadline: lateness of one timer shortens the next wait instead of
    // accumulating.
    const next = this.nextStep();
    this.armedStep = next;
    const due = this.origin + next * this.stepMs;
    this.handle = this.setTimer(() => this.fire(), Math.max(0, due - this.now()));
  }

  private fire(): void {
    this.handle = null;
    const phases = this.phases;
    let owed = Math.floor((this.now() - this.origin) / this.stepMs) - this.step;
    if (owed > this.maxCatchUp * phases) {
      // Run the last interval's beats only: each slot once.
      const owedTicks = Math.floor((this.step + owed) / phases) - Math.floor(this.step / phases);
      this.skipped += owedTicks - 1;
      this.log?.warn({ owed: owedTicks }, 'pacer stalled; skipping ticks');
      this.step += owed - phases;
      owed = phases;
    }
    this.firing = true;
    for (; owed > 0 && this.count > 0; owed--) {
      const step = ++this.step;
      const subs = this.slots[step % phases]!;
      const tick = Math.ceil(step / phases);
      for (let i = 0; i < subs.length; i++) {
        try {
          subs[i]!(tick);
        } catch (err) {
          this.log?.error({ err }, 'pacer subscriber threw');
        }
      }
    }
    this.firing = false;
    if (this.count > 0) this.schedule();
  }
}

let shared: Pacer | null = null;

/** Process-wide 20 ms pacer. */
export function sharedPacer(): Pacer {
  shared ??= new Pacer();
  return shared;
}
