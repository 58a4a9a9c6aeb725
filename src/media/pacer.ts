// One drift-corrected 20 ms clock shared by many media sessions. Per-session setInterval at
// 500+ calls means 500 timers each drifting on its own; here one timer fires and walks a list.

import type { Logger } from 'pino';

export type PacerCallback = (tick: number) => void;

export interface PacerOptions {
  intervalMs?: number;
  /** If the process stalls longer than this many ticks, skip ahead instead of bursting. */
  maxCatchUpTicks?: number;
  /** Injected for deterministic tests. */
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  logger?: Logger;
}

export class Pacer {
  readonly intervalMs: number;
  private readonly maxCatchUp: number;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;
  private readonly log: Logger | undefined;
  // Copy-on-write: add/remove allocate, the tick loop does not, and removal during a tick is safe.
  private subscribers: readonly PacerCallback[] = [];
  private handle: unknown = null;
  private origin = 0;
  private tickCount = 0;
  private skipped = 0;

  constructor(opts: PacerOptions = {}) {
    this.intervalMs = opts.intervalMs ?? 20;
    this.maxCatchUp = opts.maxCatchUpTicks ?? 5;
    this.now = opts.now ?? (() => performance.now());
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as NodeJS.Timeout));
    this.log = opts.logger;
  }

  get size(): number {
    return this.subscribers.length;
  }

  get ticks(): number {
    return this.tickCount;
  }

  /** Ticks dropped after stalls longer than maxCatchUpTicks. */
  get skippedTicks(): number {
    return this.skipped;
  }

  /** Subscribe; returns the unsubscribe function. The clock runs only while someone listens. */
  add(cb: PacerCallback): () => void {
    this.subscribers = [...this.subscribers, cb];
    if (this.handle === null) {
      this.origin = this.now();
      this.tickCount = 0;
      this.schedule();
    }
    return () => this.remove(cb);
  }

  remove(cb: PacerCallback): void {
    const next = this.subscribers.filter((s) => s !== cb);
    if (next.length === this.subscribers.length) return;
    this.subscribers = next;
    if (next.length === 0 && this.handle !== null) {
      this.clearTimer(this.handle);
      this.handle = null;
    }
  }

  stop(): void {
    this.subscribers = [];
    if (this.handle !== null) this.clearTimer(this.handle);
    this.handle = null;
  }

  private schedule(): void {
    // Aim at the absolute deadline of the next tick, so lateness of one timer shortens the next
    // wait instead of accumulating.
    const due = this.origin + (this.tickCount + 1) * this.intervalMs;
    this.handle = this.setTimer(() => this.fire(), Math.max(0, due - this.now()));
  }

  private fire(): void {
    this.handle = null;
    const elapsed = this.now() - this.origin;
    let owed = Math.floor(elapsed / this.intervalMs) - this.tickCount;
    if (owed > this.maxCatchUp) {
      this.skipped += owed - 1;
      this.log?.warn({ owed }, 'pacer stalled; skipping ticks');
      this.tickCount += owed - 1;
      owed = 1;
    }
    for (; owed > 0; owed--) {
      this.tickCount++;
      const subs = this.subscribers;
      for (let i = 0; i < subs.length; i++) {
        try {
          subs[i]!(this.tickCount);
        } catch (err) {
          this.log?.error({ err }, 'pacer subscriber threw');
        }
      }
    }
    if (this.subscribers.length > 0 && this.handle === null) this.schedule();
  }
}

let shared: Pacer | null = null;

/** Process-wide 20 ms pacer. */
export function sharedPacer(): Pacer {
  shared ??= new Pacer();
  return shared;
}
