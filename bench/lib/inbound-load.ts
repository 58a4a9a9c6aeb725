// The inbound bench's load generator (bench/inbound.ts forks it as --role=load): raw RFC 6455
// clients, each streaming one 320-byte frame every 20 ms and timing its echo. Its own process, so
// the server under test has a core to itself.
import { serveRpc } from './rpc.js';
import { RawWsClient } from './raw-ws-client.js';

export const FRAME_BYTES = 320;
export const FRAME_INTERVAL_MS = 20;
/** Streaming before each measurement window. */
export const WARMUP_MS = Number(process.env.INBOUND_WARMUP_MS ?? 1000);
export const WINDOW_MS = Number(process.env.INBOUND_WINDOW_MS ?? 8000);
/**
 * INBOUND_LOAD_SPIN=1 (diagnostic): the load process polls without sleeping (its scheduler runs on
 * setImmediate, so libuv never blocks in epoll). A server's write then never has to wake it on the
 * other vCPU, a cost the server pays per wake-up (see 'loadgen sleeps') and a remote client would not
 * put on it. The load process takes a whole core.
 */
export const LOAD_SPIN = process.env.INBOUND_LOAD_SPIN === '1';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));


interface Client {
  ws: RawWsClient;
  ready: boolean;
  seq: number;
  expected: number;
  dropped: string | undefined;
}

export interface StepStats {
  n: number;
  connected: number;
  connectFailures: number;
  rampMs: number;
  p50: number;
  p99: number;
  max: number;
  sent: number;
  received: number;
  missing: number;
  outOfOrder: number;
  dropped: number;
  framesPerSec: number;
  genLagP99: number;
  loadCpuPct: number;
  /**
   * Times the load process went to sleep (voluntary context switches) per 1 000 echoes read in
   * the window. Besides its own 1 ms send timer, what wakes it is a server's send, which pays for
   * the wake-up across vCPUs (docs/architecture.md).
   */
  loadSleepsPer1k: number;
}

function sortedPercentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

export function loadRole(): void {
  const clients: Client[] = [];
  const buckets: Client[][] = Array.from({ length: FRAME_INTERVAL_MS }, () => []);
  let port = 0;
  let mode = 'bare';

  // Window statistics.
  let measuring = false;
  let sentWin = 0;
  let recvWin = 0;
  let outOfOrder = 0;
  let droppedInStep = 0;
  let lat = new Float64Array(1 << 20);
  let latN = 0;
  const lag: number[] = [];
  let cpu0 = process.cpuUsage();
  let cpuPct = 0;
  let sleeps0 = process.resourceUsage().voluntaryContextSwitches;
  let sleeps = 0;

  // Streaming: one 1 ms scheduler; client i sends in slot i mod 20, so the load is spread evenly
  // over each 20 ms period. A late tick catches up slot by slot, so every client still sends
  // exactly one frame per 20 ms on schedule (lateness is reported as generator lag).
  let streaming = false;
  let t0 = 0;
  let slot = 0;
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;

  function sendFrame(c: Client): void {
    if (!c.ready) return;
    const { frame, headerLength: h } = RawWsClient.binaryFrame(FRAME_BYTES);
    frame.writeUInt32LE(c.seq++ >>> 0, h);
    frame.writeDoubleLE(performance.now(), h + 4);
    frame[h + 12] = measuring ? 1 : 0;
    if (c.ws.writeFrame(frame) && measuring) sentWin++;
  }

  function tick(): void {
    const now = performance.now();
    while (t0 + slot <= now) {
      const due = t0 + slot;
      for (const c of buckets[slot % FRAME_INTERVAL_MS]!) sendFrame(c);
      if (measuring) lag.push(performance.now() - due);
      slot++;
    }
    if (!streaming) return;
    if (LOAD_SPIN) immediate = setImmediate(tick);
    else timer = setTimeout(tick, 1);
  }

  function startStreaming(): void {
    streaming = true;
    t0 = performance.now();
    slot = 0;
    tick();
  }

  function stopStreaming(): void {
    streaming = false;
    clearTimeout(timer);
    clearImmediate(immediate);
  }

  function onBinary(c: Client, payload: Buffer): void {
    if (payload.length < 13) return;
    const seq = payload.readUInt32LE(0);
    if (seq < c.expected) {
      if (payload[12] === 1) outOfOrder++;
      return;
    }
    c.expected = seq + 1;
    if (payload[12] !== 1) return;
    recvWin++;
    if (latN === lat.length) {
      const bigger = new Float64Array(lat.length * 2);
      bigger.set(lat);
      lat = bigger;
    }
    lat[latN++] = performance.now() - payload.readDoubleLE(4);
  }

  function openClient(): Promise<Client> {
    return new Promise((resolve) => {
      let settled = false;
      const c: Client = { ws: undefined as unknown as RawWsClient, ready: false, seq: 0, expected: 0, dropped: undefined };
      const done = () => {
        if (!settled) {
          settled = true;
          resolve(c);
        }
      };
      c.ws = new RawWsClient(port, '127.0.0.1', '/', {
        onOpen: () => {
          if (mode !== 'callchart') {
            c.ready = true;
            done();
          }
        },
        onText: (text) => {
          let msg: { event?: string; reason?: string };
          try {
            msg = JSON.parse(text);
          } catch {
            return;
          }
          if (msg.event === 'answer') {
            c.ready = true;
            done();
          } else if (msg.event === 'hangup' || msg.event === 'error') {
            c.dropped ??= `${msg.event}: ${msg.reason ?? ''}`;
          }
        },
        onBinary: (payload) => onBinary(c, payload),
        onClose: (reason) => {
          if (c.ready && !c.dropped) {
            c.dropped = reason;
            droppedInStep++;
          }
          c.ready = false;
          c.dropped ??= reason;
          done();
        },
      });
    });
  }

  async function grow(n: number): Promise<{ connected: number; failures: number; rampMs: number }> {
    const start = performance.now();
    let failures = 0;
    const concurrency = 100;
    while (clients.length < n) {
      const batch = Math.min(concurrency, n - clients.length);
      const opened = await Promise.race([
        Promise.all(Array.from({ length: batch }, () => openClient())),
        sleep(20_000).then(() => null),
      ]);
      if (!opened) throw new Error('connect ramp timed out');
      for (const c of opened) {
        if (!c.ready) {
          failures++;
          continue;
        }
        buckets[clients.length % FRAME_INTERVAL_MS]!.push(c);
        clients.push(c);
      }
      if (failures > n / 10) break;
    }
    return { connected: clients.filter((c) => c.ready).length, failures, rampMs: performance.now() - start };
  }

  let lastGrow = { connected: 0, failures: 0, rampMs: 0 };

  serveRpc({
    init: (a: { port: number; mode: string }) => {
      port = a.port;
      mode = a.mode;
      return true;
    },
    /** Connect up to n answered calls and leave them idle. */
    idle: async (a: { n: number }) => grow(a.n),
    /** Connect up to n calls, stream to all of them and warm up. */
    prepare: async (a: { n: number }) => {
      lastGrow = await grow(a.n);
      droppedInStep = 0;
      startStreaming();
      await sleep(WARMUP_MS);
      return lastGrow;
    },
    /** The measurement window; resolves when it ends (streaming goes on until collect). */
    measure: async () => {
      sentWin = recvWin = outOfOrder = latN = 0;
      lag.length = 0;
      cpu0 = process.cpuUsage();
      sleeps0 = process.resourceUsage().voluntaryContextSwitches;
      const w0 = performance.now();
      measuring = true;
      await sleep(WINDOW_MS);
      measuring = false;
      sleeps = process.resourceUsage().voluntaryContextSwitches - sleeps0;
      const used = process.cpuUsage(cpu0);
      cpuPct = ((used.user + used.system) / 1000 / (performance.now() - w0)) * 100;
      return true;
    },
    /** Stop streaming, wait for the window's echoes, report. */
    collect: async (): Promise<StepStats> => {
      stopStreaming();
      const deadline = performance.now() + 3000;
      while (recvWin + outOfOrder < sentWin && performance.now() < deadline) await sleep(20);
      const sorted = lat.slice(0, latN).sort();
      const lagSorted = Float64Array.from(lag).sort();
      return {
        n: clients.length,
        connected: lastGrow.connected,
        connectFailures: lastGrow.failures,
        rampMs: lastGrow.rampMs,
        p50: sortedPercentile(sorted, 50),
        p99: sortedPercentile(sorted, 99),
        max: latN ? sorted[latN - 1]! : NaN,
        sent: sentWin,
        received: recvWin,
        missing: Math.max(0, sentWin - recvWin - outOfOrder),
        outOfOrder,
        dropped: droppedInStep,
        framesPerSec: recvWin / (WINDOW_MS / 1000),
        genLagP99: sortedPercentile(lagSorted, 99),
        loadCpuPct: cpuPct,
        loadSleepsPer1k: recvWin > 0 ? (sleeps / recvWin) * 1000 : NaN,
      };
    },
    closeAll: async () => {
      stopStreaming();
      for (const c of clients) c.ws.close();
      const deadline = performance.now() + 5000;
      while (clients.some((c) => !c.ws.closed) && performance.now() < deadline) await sleep(20);
      clients.length = 0;
      for (const b of buckets) b.length = 0;
      return true;
    },
  });
  process.send?.({ ready: true });
}
