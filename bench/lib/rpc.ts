// Tiny request/response over the Node IPC channel between a bench orchestrator and its children.
import { fork, type ChildProcess } from 'node:child_process';

interface Request {
  rpcId: number;
  cmd: string;
  args?: unknown;
}
interface Reply {
  rpcId: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export type Handlers = Record<string, (args: any) => unknown>;

/** In a child: answer the parent's requests with these handlers. */
export function serveRpc(handlers: Handlers): void {
  process.on('message', (m: Request) => {
    if (!m || typeof m.rpcId !== 'number') return;
    const h = handlers[m.cmd];
    void (async () => {
      let reply: Reply;
      try {
        if (!h) throw new Error(`unknown command ${m.cmd}`);
        reply = { rpcId: m.rpcId, ok: true, result: await h(m.args) };
      } catch (err) {
        reply = { rpcId: m.rpcId, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) };
      }
      process.send?.(reply);
    })();
  });
  // Parent gone: go too (never leave a bench child behind).
  process.on('disconnect', () => process.exit(0));
}

export interface RpcChild {
  readonly child: ChildProcess;
  call<T = unknown>(cmd: string, args?: unknown, timeoutMs?: number): Promise<T>;
  /** The child's first message of the form { ready: ... }. */
  ready: Promise<any>;
  stop(): Promise<void>;
}

/** Fork a TypeScript module (through tsx) as an RPC child. */
export function forkRpc(modulePath: string, argv: string[], opts: { exposeGc?: boolean; cwd: string; nodeArgs?: string[] }): RpcChild {
  const child = fork(modulePath, argv, {
    cwd: opts.cwd,
    execArgv: [...(opts.exposeGc ? ['--expose-gc'] : []), ...(opts.nodeArgs ?? []), '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let next = 1;
  const waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  let readyResolve!: (v: any) => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<any>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  child.on('message', (m: any) => {
    if (m && m.ready !== undefined) return readyResolve(m.ready);
    const w = m && typeof m.rpcId === 'number' ? waiting.get(m.rpcId) : undefined;
    if (!w) return;
    waiting.delete(m.rpcId);
    clearTimeout(w.timer);
    if (m.ok) w.resolve(m.result);
    else w.reject(new Error(m.error));
  });
  const exited = new Promise<void>((res) => {
    child.on('exit', (code, signal) => {
      const err = new Error(`bench child ${modulePath} ${argv.join(' ')} exited (${code ?? signal})`);
      readyReject(err);
      for (const w of waiting.values()) {
        clearTimeout(w.timer);
        w.reject(err);
      }
      waiting.clear();
      res();
    });
  });
  return {
    child,
    ready,
    call<T>(cmd: string, args?: unknown, timeoutMs = 60_000): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const rpcId = next++;
        const timer = setTimeout(() => {
          waiting.delete(rpcId);
          reject(new Error(`rpc ${cmd} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(rpcId, { resolve, reject, timer });
        child.send({ rpcId, cmd, args } satisfies Request);
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.disconnect?.();
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}
