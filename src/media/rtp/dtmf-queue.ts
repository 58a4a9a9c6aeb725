// Digit strings sent one after another as RFC 4733 events, one packet per interval: the queue
// and its timer. What a tick puts on the wire (header, SRTP, socket) is the session's.
import type { DtmfSender } from '../codecs/dtmf.js';

export interface DtmfQueueOutput {
  /** Send this tick's packet of `sender` (if any) and advance the media clock; false: cannot send now. */
  tick(sender: DtmfSender): boolean;
  /** The queue ran dry: audio resumes. */
  idle(): void;
}

interface Job {
  sender: DtmfSender;
  intervalMs: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class DtmfQueue {
  private readonly jobs: Job[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly out: DtmfQueueOutput) {}

  /** A digit string is being sent (audio must wait). */
  get busy(): boolean {
    return this.timer !== null;
  }

  /** Resolves when the last end packet of `sender`'s string has been sent. */
  push(sender: DtmfSender, intervalMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.jobs.push({ sender, intervalMs, resolve, reject });
      if (!this.timer) this.next();
    });
  }

  /** Stop sending; every queued string fails with the error `err` makes (made only if one is queued: an Error's stack costs). */
  close(err: () => Error): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.jobs.length === 0) return;
    const e = err();
    for (const job of this.jobs.splice(0)) job.reject(e);
  }

  private next(): void {
    const job = this.jobs[0];
    if (!job) {
      this.timer = null;
      this.out.idle();
      return;
    }
    const step = (): void => {
      if (!this.out.tick(job.sender)) {
        this.finish(job, new Error('no remote RTP address'));
        return;
      }
      if (job.sender.done) this.finish(job);
    };
    this.timer = setInterval(step, job.intervalMs);
    step();
  }

  private finish(job: Job, err?: Error): void {
    clearInterval(this.timer!);
    this.timer = null;
    this.jobs.shift();
    if (err) job.reject(err);
    else job.resolve();
    this.next();
  }
}
