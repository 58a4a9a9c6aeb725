// One SIP worker thread (see router.ts): a whole engine without HTTP/WebSocket, whose SIP socket
// shares the router's port and whose inbound datagrams arrive as messages from the router; TCP/TLS
// messages arrive the same way, and what it sends over a stream goes back to the router
// (stream-relay.ts), which owns the connections.
import v8 from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { createEngine, type Engine } from '../../engine.js';
import { createCliLogger } from '../../logging/format.js';
import { combineTraceHooks, sipTraceLogger } from '../../logging/sip-trace.js';
import { HepExporter } from '../../logging/hep-exporter.js';
import type { IncomingCallHook } from '../../call/call.js';
import { newTransportStats, type DatagramFeed, type Endpoint } from '../transport/udp.js';
import type { SipStreamRelay, SipStreamRelayHandlers } from '../transport/relayed-stream.js';
import type { SipStreamKind } from '../transport/types.js';
import { callIdValueHash } from '../codec/message.js';
import type { FromWorker, SipWorkerData, ToWorker } from './router.js';

const port = parentPort;
if (!port) throw new Error('src/sip/workers/thread.ts runs as a worker thread (started by SipWorkers)');
const data = workerData as SipWorkerData;
const post = (m: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);

async function loadApp(engine: Engine): Promise<IncomingCallHook> {
  const mod = (await import(data.app.module)) as Record<string, unknown>;
  const name = data.app.export ?? 'default';
  const factory = mod[name];
  if (typeof factory !== 'function') throw new Error(`app module ${data.app.module} has no function export ${JSON.stringify(name)}`);
  const hook: unknown = await (factory as (options: unknown, engine: Engine) => unknown)(data.app.options, engine);
  if (typeof hook !== 'function') throw new Error(`app factory ${name} of ${data.app.module} did not return an onIncomingCall hook`);
  return hook as IncomingCallHook;
}

let deliver: ((buf: Buffer, from: Endpoint) => void) | undefined;
const feed: DatagramFeed = {
  subscribe(fn) {
    deliver = fn;
    return () => {
      deliver = undefined;
    };
  },
  // The router's pick (router.ts): the Call-IDs this thread makes come back to it.
  owns: (callId) => callIdValueHash(callId) % data.threads === data.index,
};

// The router's TCP/TLS connections, as this thread's relayed stream transports see them.
const streamHandlers = new Map<SipStreamKind, SipStreamRelayHandlers>();
// The router listens before this thread's engine does: what comes in meanwhile waits (bounded).
const MAX_EARLY_STREAM_MESSAGES = 1024;
let early: Extract<ToWorker, { s: Uint8Array }>[] | undefined = data.streams ? [] : undefined;
const relay: SipStreamRelay = {
  ports: data.streams ?? {},
  subscribe(kind, handlers) {
    streamHandlers.set(kind, handlers);
    if (early && streamHandlers.size === Object.keys(relay.ports).length) {
      const waiting = early;
      early = undefined;
      for (const m of waiting) streamMessage(m);
    }
    return () => void streamHandlers.delete(kind);
  },
  send(kind, bytes, to, conn) {
    // A copy to transfer: the transaction layer keeps its bytes for retransmissions.
    const d = new Uint8Array(bytes);
    post({ type: 'stream-send', k: kind, c: conn, a: to.address, p: to.port, d }, [d.buffer]);
  },
  hold(kind, to, on) {
    post({ type: 'stream-hold', k: kind, a: to.address, p: to.port, on });
  },
};

function streamMessage(m: Extract<ToWorker, { s: Uint8Array }>): void {
  streamHandlers.get(m.k)?.message(Buffer.from(m.s.buffer, m.s.byteOffset, m.s.byteLength), { address: m.a, port: m.p, transport: m.k }, m.c);
}

let engine: Engine | undefined;

// The router's /health, metrics and drain need this thread's live call count: sent when it changes,
// coalesced to one message per 100 ms so the call hot path pays no message per call, and at once
// while draining (the router decides when the whole server is idle).
let callsTimer: NodeJS.Timeout | undefined;
const postCalls = () => {
  callsTimer = undefined;
  post({ type: 'calls', live: engine?.calls.size ?? 0 });
};
const callsChanged = () => {
  // setImmediate: an ending call leaves the engine's list after its 'ended' listeners ran.
  if (engine?.status === 'draining') {
    clearTimeout(callsTimer);
    callsTimer = undefined;
    setImmediate(postCalls);
  } else callsTimer ??= setTimeout(postCalls, 100);
};

port.on('message', (m: ToWorker) => {
  if ('d' in m) {
    deliver?.(Buffer.from(m.d.buffer, m.d.byteOffset, m.d.byteLength), { address: m.a, port: m.p });
    return;
  }
  if ('s' in m) {
    if (!early) streamMessage(m);
    else if (early.length < MAX_EARLY_STREAM_MESSAGES) early.push(m);
    return;
  }
  if (m.type === 'stream-closed') {
    streamHandlers.get(m.k)?.closed(m.c);
    return;
  }
  if (m.type === 'stream-failed') {
    streamHandlers.get(m.k)?.failed(m.c, { address: m.a, port: m.p, transport: m.k }, m.reason);
    return;
  }
  if (m.type === 'metrics') {
    const registry = engine?.metricsRegistry;
    void (registry ? registry.getMetricsAsJSON() : Promise.resolve([])).then((metrics) => post({ type: 'metrics', id: m.id, metrics }));
    return;
  }
  if (m.type === 'drain' || m.type === 'resume') {
    if (m.type === 'drain') void engine?.drain();
    else engine?.resume();
    clearTimeout(callsTimer);
    postCalls(); // the router waits for this answer before it may call the drain done
    return;
  }
  if (m.type === 'stats') {
    // With --expose-gc (measurements) the heap figure is taken after a full collection.
    (globalThis as { gc?: () => void }).gc?.();
    post({
      type: 'stats',
      id: m.id,
      stats: {
        index: data.index,
        liveCalls: engine?.calls.size ?? 0,
        liveLegs: engine?.sip?.liveLegs ?? 0,
        heapUsedBytes: v8.getHeapStatistics().used_heap_size,
        transport: { ...(engine?.sip?.transport.stats ?? newTransportStats()) },
        streams: Object.fromEntries((engine?.sip?.relayed ?? []).map((rt) => [rt.kind, { ...rt.stats }])),
      },
    });
    return;
  }
  void (engine?.close() ?? Promise.resolve()).finally(() => {
    post({ type: 'closed' });
    port.close();
  });
});

try {
  const logger = createCliLogger({ level: data.logLevel, format: data.log?.format ?? 'json' }).child({ worker: data.index });
  const hep = data.log?.hep ? new HepExporter({ ...data.log.hep, logger }) : undefined;
  const trace = combineTraceHooks(data.log?.sipTrace ? sipTraceLogger(logger) : undefined, hep?.hook);
  // The app gets this thread's engine (for engine.call() and the like), so the hook is bound late.
  let hook: IncomingCallHook | undefined;
  engine = createEngine({
    host: data.host,
    wsPort: false,
    sipPort: data.port,
    rtpPorts: data.rtpPorts,
    logger,
    inboundCall: false,
    onIncomingCall: (call) => hook!(call),
    maxCalls: data.maxCalls, // undefined ones take the engine's defaults
    ringTimeoutMs: data.ringTimeoutMs,
    maxCallDurationMs: data.maxCallDurationMs,
    sip: { ...data.sip, datagrams: feed, ...(data.streams ? { streamRelay: relay } : {}), tagSecret: data.tagSecret, ...(trace ? { trace } : {}) },
  });
  if (hep) engine.onClose(() => hep.close());
  engine.on('call', (call) => {
    callsChanged();
    call.once('ended', callsChanged);
  });
  engine.onClose(() => clearTimeout(callsTimer));
  hook = await loadApp(engine);
  await engine.listen();
  post({ type: 'ready' });
} catch (err) {
  post({ type: 'failed', error: err instanceof Error ? err.message : String(err) });
  port.close();
}
