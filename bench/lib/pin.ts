// CPU pinning for bench children (Linux `taskset`): the server under test on one core, its load
// generators on the others, so a ladder measures the server rather than who the scheduler let run.
import { execFileSync } from 'node:child_process';
import { cpus as cpuList } from 'node:os';
import type { ChildProcess } from 'node:child_process';

export type PinRole = 'server' | 'load';

/**
 * Pins every thread of `child` (`taskset -a`; threads it starts later inherit the mask): a server
 * to CPU 0, a load process to CPUs 1..n-1. A box with one CPU, or no `taskset`, is an error: a
 * pinned figure that was not pinned would be a false label.
 */
export function pin(child: ChildProcess, role: PinRole): void {
  // The box's CPUs, not availableParallelism(): that follows this process's own affinity, and a
  // pinned server spawning its bot would see one CPU.
  const cpus = cpuList().length;
  if (cpus < 2) throw new Error('bench pinning needs at least 2 CPUs');
  const list = role === 'server' ? '0' : `1-${cpus - 1}`;
  if (child.pid === undefined) throw new Error('bench child has no pid to pin');
  execFileSync('taskset', ['-a', '-p', '-c', list, String(child.pid)], { stdio: 'ignore' });
}
