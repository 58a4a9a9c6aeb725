// The feature-server's named queues: one queue actor (machines/jambonzQueue.machine.ts) per name,
// created on first use and stopped once empty again, and the calls taking part, by call_sid, so
// the queue's `connect` reaches both the queued call and the dequeuing one.
import type { Logger } from 'pino';
import { createActor, type Actor } from 'xstate';
import { jambonzQueueMachine, type JambonzQueueMachine } from '../../../machines/jambonzQueue.machine.js';
import type { QueueHost, QueueParty } from './queue.js';

export class FsQueues implements QueueHost {
  private readonly queues = new Map<string, Actor<JambonzQueueMachine>>();
  private readonly parties = new Map<string, QueueParty>();

  constructor(private readonly log: Logger) {}

  join(name: string, callSid: string, priority: number, party: QueueParty): void {
    this.parties.set(callSid, party);
    this.of(name).send({ type: 'JOIN', callSid, priority });
  }

  leave(name: string, callSid: string): void {
    this.queues.get(name)?.send({ type: 'LEAVE', callSid });
    this.parties.delete(callSid);
    this.tidy(name);
  }

  dequeue(name: string, by: string, target: string | undefined, party: QueueParty): void {
    this.parties.set(by, party);
    this.of(name).send({ type: 'DEQUEUE', by, ...(target !== undefined ? { target } : {}) });
  }

  cancel(name: string, by: string): void {
    this.queues.get(name)?.send({ type: 'CANCEL', by });
    this.parties.delete(by);
    this.tidy(name);
  }

  position(name: string, callSid: string): { position: number; size: number } {
    const members = this.queues.get(name)?.getSnapshot().context.members ?? [];
    return { position: members.findIndex((m) => m.callSid === callSid) + 1, size: members.length };
  }

  /** Queue names with their state (for logs and tests). */
  get size(): number {
    return this.queues.size;
  }

  close(): void {
    for (const q of this.queues.values()) q.stop();
    this.queues.clear();
    this.parties.clear();
  }

  private of(name: string): Actor<JambonzQueueMachine> {
    let q = this.queues.get(name);
    if (q) return q;
    const logic = jambonzQueueMachine.provide({
      actions: {
        connect: (_, p) => queueMicrotask(() => this.connect(name, p.member, p.by)),
        notFound: (_, p) => queueMicrotask(() => {
          const party = this.parties.get(p.by);
          this.parties.delete(p.by);
          party?.notFound?.();
        }),
      },
    });
    q = createActor(logic, { id: `jambonz-queue:${name}` }).start();
    this.queues.set(name, q);
    return q;
  }

  /** The queue paired them: each side hears of the other (the dequeuer bridges). */
  private connect(name: string, member: string, by: string): void {
    const m = this.parties.get(member);
    const d = this.parties.get(by);
    this.parties.delete(member);
    this.parties.delete(by);
    this.tidy(name);
    if (!m || !d || m.call.isEnded || d.call.isEnded) {
      // One side went in the same turn: the live one goes back to the queue as it was.
      this.log.info({ queue: name, member, by }, 'queue: one side was gone when dequeued');
      if (m && !m.call.isEnded) this.join(name, member, 999, m);
      if (d && !d.call.isEnded) this.dequeue(name, by, undefined, d);
      return;
    }
    this.log.info({ queue: name, member, by }, 'queue: member dequeued');
    m.connected(d.call, by);
    d.connected(m.call, member);
  }

  private tidy(name: string): void {
    const q = this.queues.get(name);
    if (q && q.getSnapshot().matches('empty')) {
      q.stop();
      this.queues.delete(name);
    }
  }
}
