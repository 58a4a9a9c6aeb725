// The process-level backstop: `uncaughtException` and `unhandledRejection` handlers of last resort.
// Everything on the wire is meant to be validated at the edge and every actor has its own error
// observer, so an error reaching here is a bug. Node's default answer to such a bug is to exit,
// which takes every live call down with it and, when a client can trigger the bug at will, hands
// that client a remote off switch. The guard logs the error, counts it and keeps serving where that
// is safe; it exits (status 1, after a bounded graceful shutdown) where it is not.
//
// What "safe" means here:
// - An unhandled rejection: the async operation that failed is already over; nothing was left
//   half-done synchronously by the throw. Logged (error), counted, kept serving. Always.
// - An uncaught exception from an event callback (a socket 'message', a timer, an I/O completion):
//   that one callback stopped midway. State touched by it may be inconsistent, but callchart keeps
//   per-call state inside actors (which have their own crash handling) and adapters hold wire
//   handles, so the damage is bounded to the connection or call being served. Logged, counted,
//   kept serving.
// - Not safe, exit 1:
//   * more than `maxExceptions` uncaught exceptions within `windowMs` (default 10 in 60 s): a
//     crash loop means the fault is not one bad input but a broken state, and a restart by the
//     process manager is the cleaner recovery. (A client that can trigger a crash repeatedly can
//     then force a restart: raise the budget if a restart costs more than the risk.)
//   * memory exhaustion: an allocation failure, or the V8 heap above 90 % of its limit when the
//     error arrives. Continuing would only fail again, slower, for everyone.
//   * an error while the guard is already shutting the process down.
// A real out-of-memory abort or a native crash never reaches JavaScript: that is the process
// manager's job (systemd Restart=on-failure, a container restart policy).
import v8 from 'node:v8';
import type { Logger } from 'pino';

export interface ProcessGuardOptions {
  /** Where the errors are logged (the engine's logger when installed with `installProcessGuard`). */
  logger: Logger;
  /** Uncaught exceptions tolerated within `windowMs`; one more exits (default 10). */
  maxExceptions?: number;
  /** The sliding window for `maxExceptions` (default 60 000 ms). */
  windowMs?: number;
  /** Exit when the V8 heap is above this fraction of its limit as an error arrives (default 0.9). */
  heapLimitFraction?: number;
  /** Graceful shutdown before an exit (the engine's `close()`); bounded by `shutdownTimeoutMs`. */
  shutdown?: () => Promise<void>;
  /** Longest the shutdown may take before the process exits anyway (default 5000 ms). */
  shutdownTimeoutMs?: number;
  /** How to end the process (default `process.exit`); tests replace it. */
  exit?: (code: number) => void;
}

export interface ProcessGuardMetrics {
  /** Uncaught exceptions seen (kept serving or not). */
  uncaughtExceptions: number;
  /** Unhandled promise rejections seen. */
  unhandledRejections: number;
}

export type ProcessGuardExitReason = 'crash-burst' | 'memory' | 'during-shutdown';

export class ProcessGuard {
  readonly metrics: ProcessGuardMetrics = { uncaughtExceptions: 0, unhandledRejections: 0 };
  private readonly log: Logger;
  private readonly maxExceptions: number;
  private readonly windowMs: number;
  private readonly heapLimitFraction: number;
  private readonly recent: number[] = [];
  private exiting = false;
  private installed = false;

  constructor(private readonly opts: ProcessGuardOptions) {
    this.log = opts.logger.child({ component: 'process-guard' });
    this.maxExceptions = opts.maxExceptions ?? 10;
    this.windowMs = opts.windowMs ?? 60_000;
    this.heapLimitFraction = opts.heapLimitFraction ?? 0.9;
  }

  /** Take over `uncaughtException` / `unhandledRejection` for this process. */
  install(): this {
    if (this.installed) return this;
    this.installed = true;
    process.on('uncaughtException', this.onException);
    process.on('unhandledRejection', this.onRejection);
    return this;
  }

  /** Give the two events back (Node's default behaviour returns when no other listener is left). */
  uninstall(): void {
    if (!this.installed) return;
    this.installed = false;
    process.off('uncaughtException', this.onException);
    process.off('unhandledRejection', this.onRejection);
  }

  /** Handle an uncaught exception as the process listener does (exposed for tests). */
  readonly onException = (err: unknown, origin: string = 'uncaughtException'): void => {
    this.metrics.uncaughtExceptions++;
    const now = Date.now();
    this.recent.push(now);
    while (this.recent.length && this.recent[0]! <= now - this.windowMs) this.recent.shift();
    const reason: ProcessGuardExitReason | undefined = this.exiting
      ? 'during-shutdown'
      : this.memoryExhausted(err)
        ? 'memory'
        : this.recent.length > this.maxExceptions
          ? 'crash-burst'
          : undefined;
    if (reason) return this.fatal(err, reason, { origin });
    this.safeLog('error', { err, origin, count: this.metrics.uncaughtExceptions, inWindow: this.recent.length }, 'uncaught exception: kept serving');
  };

  /** Handle an unhandled rejection as the process listener does (exposed for tests). */
  readonly onRejection = (reason: unknown): void => {
    this.metrics.unhandledRejections++;
    if (!this.exiting && this.memoryExhausted(reason)) return this.fatal(reason, 'memory', { origin: 'unhandledRejection' });
    this.safeLog('error', { err: reason, count: this.metrics.unhandledRejections }, 'unhandled rejection: kept serving');
  };

  private memoryExhausted(err: unknown): boolean {
    if (err instanceof Error) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_MEMORY_ALLOCATION_FAILED') return true;
      if (err instanceof RangeError && /allocation failed|out of memory/i.test(err.message)) return true;
    }
    try {
      const h = v8.getHeapStatistics();
      return h.used_heap_size > h.heap_size_limit * this.heapLimitFraction;
    } catch {
      return false;
    }
  }

  private fatal(err: unknown, reason: ProcessGuardExitReason, extra: Record<string, unknown>): void {
    const exit = this.opts.exit ?? ((code: number) => process.exit(code));
    if (this.exiting) {
      // Already on the way out: record it and let the pending exit happen.
      this.safeLog('fatal', { err, reason, ...extra }, 'error while exiting');
      return;
    }
    this.exiting = true;
    const detail =
      reason === 'crash-burst'
        ? `more than ${this.maxExceptions} uncaught exceptions within ${this.windowMs} ms`
        : reason === 'memory'
          ? 'memory exhausted'
          : 'error during shutdown';
    this.safeLog('fatal', { err, reason, ...extra, metrics: { ...this.metrics } }, `process guard: ${detail}; exiting`);
    const done = () => {
      try {
        this.log.flush?.();
      } catch {
        /* the exit must happen whatever the logger does */
      }
      exit(1);
    };
    if (!this.opts.shutdown) return done();
    const timer = setTimeout(done, this.opts.shutdownTimeoutMs ?? 5000);
    timer.unref?.();
    this.opts.shutdown().then(
      () => {
        clearTimeout(timer);
        done();
      },
      () => {
        clearTimeout(timer);
        done();
      },
    );
  }

  // A logger that throws here would re-enter the guard; the count is already taken.
  private safeLog(level: 'error' | 'fatal', obj: Record<string, unknown>, msg: string): void {
    try {
      this.log[level](obj, msg);
    } catch {
      /* nothing more can be done */
    }
  }
}

/** The engine surface the guard needs (its logger, and close() for a graceful exit). */
export interface GuardedEngine {
  readonly logger: Logger;
  close(): Promise<void>;
  once(event: 'closed', listener: () => void): unknown;
}

/**
 * Opt-in for embedders (the CLI installs it): last-resort handlers that log through the engine's
 * logger, count (`guard.metrics`) and keep serving where that is safe, and exit 1 after a graceful
 * `engine.close()` where it is not. Uninstalled once the engine has closed (errors during the
 * shutdown itself are still caught and logged). An embedder that owns its
 * process's error policy simply does not call this.
 */
export function installProcessGuard(engine: GuardedEngine, opts: Omit<ProcessGuardOptions, 'logger' | 'shutdown'> = {}): ProcessGuard {
  const guard = new ProcessGuard({ logger: engine.logger, shutdown: () => engine.close(), ...opts }).install();
  engine.once('closed', () => guard.uninstall());
  return guard;
}
