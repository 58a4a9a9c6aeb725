// An app that decides asynchronously: it "looks up" the caller, then answers or rejects.
// Shows defer + call.answer()/call.reject() later, and a hang-up timer of the app's own.
//   npx tsx examples/decide-later.ts
import { createEngine, createLogger, type Call } from '../src/index.js';

const blocked = new Set<string>(); // e.g. filled from a database

async function lookup(call: Call): Promise<'vip' | 'normal' | 'blocked'> {
  await new Promise((r) => setTimeout(r, 200)); // pretend I/O
  return blocked.has(call.from ?? '') ? 'blocked' : 'normal';
}

const engine = createEngine({
  host: '127.0.0.1',
  wsPort: Number(process.env.PORT ?? 4143),
  sipPort: false,
  inboundCall: true,
  logger: createLogger('info'),
  onIncomingCall: (call) => {
    void lookup(call).then((kind) => {
      if (call.isEnded) return;
      if (kind === 'blocked') return call.reject(603, 'Decline');
      call.answer();
      call.on('audio', (f) => call.sendAudio(f));
      const t = setTimeout(() => call.hangup('time is up'), 30_000);
      call.once('ended', () => clearTimeout(t));
    });
    return { action: 'defer' };
  },
});
await engine.listen();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void engine.close());
