// `engine.connect(call, target)`: a B2BUA leg. The inbound call keeps ringing while a new
// outbound call goes to the target (a registered contact, or any SIP URI); when the target
// answers, the inbound call is answered and the two are bridged. Either side ending ends the
// other; a target that refuses (or never answers) refuses the inbound call with its status.
// Plain glue over the public Call API: both legs' state stays in their call actors.
import type { Call } from '../../call/call.js';
import type { Bridge } from '../../media/mixing/bridge.js';
import type { OutboundCallOptions } from '../ua/options.js';
import type { Registration } from './registrar.js';

export interface ConnectDeps {
  call(target: string, o: OutboundCallOptions): Promise<Call>;
  bridge(a: Call, b: Call): Bridge;
  /** A TCP/TLS connection to this endpoint is open. */
  flowOpen(e: Registration['source']): boolean;
  /** The AOR's live bindings (another flow of the same client, RFC 5626 §5.3). */
  bindings(aor: string): Registration[];
  /** An outbound binding's flow is gone: the registrar drops the binding. */
  flowFailed(r: Registration): void;
}

/** `engine.connect()` to an RFC 5626 outbound binding whose flow is gone: the caller got 430. */
export class FlowFailedError extends Error {
  constructor(readonly registration: Registration) {
    super(`the flow of ${registration.aor}'s binding ${registration.contact} is gone (430 Flow Failed)`);
    this.name = 'FlowFailedError';
  }
}

/** The flow to send down for a binding: undefined to use its Contact as any URI; null when it failed. */
function flowOf(deps: ConnectDeps, r: Registration): Registration['source'] | undefined | null {
  const s = r.source;
  if (!s.transport) return r.outbound ? s : undefined; // outbound over UDP: its flow is its source
  if (deps.flowOpen(s)) return s;
  return r.outbound ? null : undefined;
}

/** What `engine.connect()` takes besides the target: the outbound leg's options. */
export type ConnectOptions = OutboundCallOptions;

export async function connectCall(deps: ConnectDeps, a: Call, target: string | Registration, o: ConnectOptions = {}): Promise<Call> {
  // A client registered over TCP/TLS is reached on that connection while it is open (RFC 5626
  // §5.3's flow, as proxies do for clients behind NAT): it may listen nowhere else. An outbound
  // binding (RFC 5626) is reached only down its flow, or another flow of the same instance; with
  // none left the caller gets 430 and the binding goes.
  let flow: Registration['source'] | undefined;
  // A binding registered through proxies with Path (RFC 3327) is reached through them: the Path is
  // the INVITE's preloaded Route set (its first hop decides where it goes), whatever connection the
  // REGISTER came over. Such a binding is never an outbound one (the edge proxy keeps the flow).
  const route = typeof target !== 'string' && target.path?.length ? { route: target.path } : undefined;
  if (typeof target !== 'string' && !route) {
    let f = flowOf(deps, target);
    if (f === null) {
      deps.flowFailed(target);
      const instance = target.outbound!.instance;
      const other = deps.bindings(target.aor).find((r) => r !== target && r.outbound?.instance === instance && flowOf(deps, r));
      if (!other) {
        if (!a.isEnded) a.reject(430, 'Flow Failed');
        throw new FlowFailedError(target);
      }
      target = other;
      f = flowOf(deps, other);
    }
    flow = f ?? undefined;
  }
  const uri = typeof target === 'string' ? target : target.contact;
  const hop = flow ? { nextHop: { address: flow.address, port: flow.port, ...(flow.transport ? { transport: flow.transport } : {}) } } : {};
  // The callee sees who called (the caller's From), unless told otherwise.
  const b = await deps.call(uri, { ...(a.from ? { from: a.from } : {}), ...hop, ...route, ...o });
  if (a.isEnded) {
    b.hangup('caller gone');
    return b;
  }
  a.progress(180);
  let bridge: Bridge | undefined;
  b.once('answered', () => {
    if (a.isEnded) return;
    a.once('answered', () => {
      if (!a.isEnded && !b.isEnded) bridge = deps.bridge(a, b);
    });
    a.answer();
  });
  a.once('ended', () => {
    bridge?.stop();
    if (!b.isEnded) b.hangup('other party hung up');
  });
  b.once('ended', (end) => {
    bridge?.stop();
    if (a.isEnded) return;
    if (a.isActive) a.hangup('other party hung up');
    else a.reject(end.code !== undefined && end.code >= 400 ? end.code : 480, end.code !== undefined && end.code >= 400 ? end.detail : 'Temporarily Unavailable');
  });
  return b;
}
