// OpenTelemetry: callchart only uses @opentelemetry/api, so its spans are no-ops until a tracer
// provider is registered. Real apps register an SDK (@opentelemetry/sdk-trace-base with an OTLP
// exporter); to need nothing beyond callchart's own dependencies, this example registers a tiny
// provider of its own that prints each finished span: one per actor (`call`, `sipDialog`, …),
// whose events are its state transitions.
//   npx tsx examples/tracing-console.ts     then connect a client to ws://127.0.0.1:4143/
// Env: CALLCHART_HOST (default 127.0.0.1), CALLCHART_WS_PORT (default 4143, 0 = ephemeral).
import { randomBytes } from 'node:crypto';
import { context, trace, TraceFlags, type Attributes, type Span, type SpanContext, type SpanOptions, type SpanStatus, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { createEngine, demoApp } from 'callchart';

class PrintedSpan implements Span {
  private readonly ctx: SpanContext = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), traceFlags: TraceFlags.SAMPLED };
  private readonly start = performance.now();
  private readonly attributes: Attributes;
  private readonly events: string[] = [];
  private status: SpanStatus = { code: 0 };
  private ended = false;
  constructor(private name: string, options: SpanOptions) {
    this.attributes = { ...options.attributes };
  }
  spanContext(): SpanContext { return this.ctx; }
  setAttribute(key: string, value: Attributes[string]): this { this.attributes[key] = value; return this; }
  setAttributes(attributes: Attributes): this { Object.assign(this.attributes, attributes); return this; }
  addEvent(name: string, attributes?: unknown): this {
    const at = (performance.now() - this.start).toFixed(1);
    this.events.push(`  +${at} ms ${name} ${attributes && typeof attributes === 'object' ? JSON.stringify(attributes) : ''}`);
    return this;
  }
  addLink(): this { return this; }
  addLinks(): this { return this; }
  setStatus(status: SpanStatus): this { this.status = status; return this; }
  updateName(name: string): this { this.name = name; return this; }
  isRecording(): boolean { return !this.ended; }
  recordException(exception: unknown): void { this.addEvent('exception', { message: String(exception) }); }
  end(): void {
    if (this.ended) return;
    this.ended = true;
    const ms = (performance.now() - this.start).toFixed(1);
    process.stdout.write(`span ${this.name} ${ms} ms status=${this.status.code} ${JSON.stringify(this.attributes)}\n${this.events.join('\n')}\n`);
  }
}

class PrintingTracer implements Tracer {
  startSpan(name: string, options: SpanOptions = {}): Span {
    return new PrintedSpan(name, options);
  }
  // startActiveSpan(name, [options, [context,]] fn): the span is the active one while fn runs.
  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...args: unknown[]): ReturnType<F> {
    const fn = args[args.length - 1] as F;
    const span = this.startSpan(name, (args.length > 1 ? args[0] : undefined) as SpanOptions | undefined);
    return context.with(trace.setSpan(context.active(), span), (s: Span) => fn(s) as ReturnType<F>, undefined, span);
  }
}

const tracer = new PrintingTracer();
const provider: TracerProvider = { getTracer: () => tracer };
trace.setGlobalTracerProvider(provider);

const engine = createEngine({
  host: process.env.CALLCHART_HOST ?? '127.0.0.1',
  wsPort: Number(process.env.CALLCHART_WS_PORT ?? process.env.PORT ?? 4143),
  inboundCall: true,
  onIncomingCall: demoApp({ answerDelayMs: 500, hangupAfterMs: 2000 }),
});
await engine.listen();
process.stdout.write(`connect a client to ws://127.0.0.1:${engine.wsPort}/ ; each finished call prints its span\n`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void engine.close().then(() => trace.disable()));
