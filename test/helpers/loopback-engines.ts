// Engines for loopback tests: each on 127.0.0.1 with ephemeral SIP and HTTP ports and its own slice
// of RTP ports (so engines in one file, and files run one after another, never share a port).
import { createEngine, type Engine, type EngineOptions } from '../../src/index.js';

export interface LoopbackEngines {
  start(o?: EngineOptions): Promise<Engine>;
  closeAll(): Promise<void>;
}

export function loopbackEngines(firstRtpPort: number, rtpPortsEach = 100, defaults: EngineOptions = {}): LoopbackEngines {
  const engines: Engine[] = [];
  let base = firstRtpPort;
  return {
    async start(o = {}) {
      const rtpPorts = `${base}-${base + rtpPortsEach - 1}`;
      base += rtpPortsEach;
      const engine = createEngine({ host: '127.0.0.1', wsPort: 0, sipPort: 0, rtpPorts, inboundCall: false, ...defaults, ...o });
      engines.push(engine);
      await engine.listen();
      return engine;
    },
    async closeAll() {
      await Promise.all(engines.splice(0).map((e) => e.close()));
    },
  };
}
