// OpenTelemetry: callchart only uses @opentelemetry/api, so spans are no-ops until an SDK is
// registered. This example registers the base SDK with the console exporter: each call prints
// one span (`call`) whose events are its state transitions.
//   npx tsx examples/tracing-console.ts
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createEngine, demoApp } from '../src/index.js';

const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())] });
trace.setGlobalTracerProvider(provider);

const engine = createEngine({
  host: '127.0.0.1',
  wsPort: Number(process.env.PORT ?? 4143),
  sipPort: false,
  inboundCall: true,
  onIncomingCall: demoApp({ answerDelayMs: 500, hangupAfterMs: 2000 }),
});
await engine.listen();
process.stdout.write(`connect a client to ws://127.0.0.1:${engine.wsPort}/ ; each finished call prints its span\n`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void engine.close().then(() => provider.shutdown()));
