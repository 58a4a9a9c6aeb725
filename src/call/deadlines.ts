// One timer for many deadlines of the same length (every call's maximum duration): since each is
// armed `ms` after it is added, they fall due in the order they were added, so a FIFO list with one
// Node timer for its head fires each when its own timer would have. A live call then holds three
// fields of its slot instead of a Timeout and its argument array (~200 B).

/** What the queue links: fields of the caller's own object (no node object per entry). */
export interface DeadlineEntry {
  deadlinePrev: DeadlineEntry | undefined;
  deadlineNext: DeadlineEntry | undefined;
  /** When it falls due (ms on the queue's clock, whole ms), or -1 when not queued. */
  deadlineAt: number;
}

// Whole ms (a small integer field instead of a boxed double per entry).
const now = (): number => Math.ceil(performance.now());
const SLACK_MS = 2;
const MAX_DELAY_MS = 2 ** 31 - 1;

export class DeadlineQueue<T extends DeadlineEntry> {
  private head: T | undefined = undefined;
  private tail: T | undefined = undefined;
  private timer: NodeJS.Timeout | undefined = undefined;

  constructor(
    private readonly ms: number,
    /** Called when an entry falls due (it has left the queue). */
    private readonly due: (entry: T) => void,
  ) {}

  /** Queue `entry` to fall due in `ms` (re-added if it was queued). */
  add(entry: T): void {
    this.remove(entry);
    entry.deadlineAt = now() + this.ms;
    entry.deadlinePrev = this.tail;
    entry.deadlineNext = undefined;
    if (this.tail) this.tail.deadlineNext = entry;
    else this.head = entry;
    this.tail = entry;
    if (this.head === entry) this.arm(this.ms);
  }

  /** Take `entry` out (no-op when it is not queued). */
  remove(entry: T): void {
    if (entry.deadlineAt < 0) return;
    const wasHead = this.head === entry;
    this.unlink(entry);
    if (wasHead) this.armHead();
  }

  private unlink(entry: T): void {
    const prev = entry.deadlinePrev as T | undefined;
    const next = entry.deadlineNext as T | undefined;
    if (prev) prev.deadlineNext = next;
    else this.head = next;
    if (next) next.deadlinePrev = prev;
    else this.tail = prev;
    entry.deadlinePrev = entry.deadlineNext = undefined;
    entry.deadlineAt = -1;
  }

  private armHead(): void {
    const head = this.head;
    if (head) this.arm(head.deadlineAt - now());
    else {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private arm(delay: number): void {
    clearTimeout(this.timer);
    // Node's longest delay is 2^31-1 ms (beyond, it fires after 1 ms): a later head is re-armed then.
    this.timer = setTimeout(fire, Math.min(MAX_DELAY_MS, Math.max(1, delay)), this);
  }

  /** @internal the timer fired: every entry due by now falls due, in order. */
  fired(): void {
    this.timer = undefined;
    // With slack: Node's timer runs on the event loop's cached clock, which may trail this one.
    const t = now() + SLACK_MS;
    for (let e = this.head; e !== undefined && e.deadlineAt <= t; e = this.head) {
      this.unlink(e);
      this.due(e);
    }
    this.armHead();
  }
}

function fire(q: { fired(): void }): void {
  q.fired();
}
