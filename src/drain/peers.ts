// Calls that belong to a server but run outside its engine's own CallManager: the SIP worker
// threads of `callchart serve --sip-workers`. The main thread's engine counts them in /health and
// in its drain, forwards drain/resume to them, and merges their metrics into its /metrics.
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

export interface EnginePeers {
  /** Their live calls (all SIP), as last reported. */
  readonly liveCalls: number;
  /** Tell them to drain (true) or to take calls again (false). */
  drain(on: boolean): void;
  /** Their metrics registries as prom-client JSON. */
  metrics(): Promise<MetricObjectWithValues<MetricValue<string>>[][]>;
  /** Called whenever liveCalls changes. */
  onCallsChanged(fn: () => void): void;
}
