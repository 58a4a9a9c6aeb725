// Spans through the OpenTelemetry API only: without an SDK registered these are no-ops and cost
// next to nothing, so the engine always instruments and the embedder decides whether to export.
import { trace, SpanStatusCode, isSpanContextValid, type Span, type Tracer, type Attributes } from '@opentelemetry/api';

export { isSpanContextValid };

export const TRACER_NAME = 'callchart';

export function getTracer(): Tracer {
  return trace.getTracer(TRACER_NAME, '0.1.0');
}

export function startActorSpan(tracer: Tracer, kind: string, id: string, attributes: Attributes = {}): Span {
  return tracer.startSpan(kind, { attributes: { 'callchart.kind': kind, 'callchart.id': id, ...attributes } });
}

export function failSpan(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : new Error(String(err)));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

export type { Span, Tracer };
