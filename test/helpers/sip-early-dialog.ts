// The early-dialog tests' common setup (UPDATE and PRACK offers as the callee): an engine whose app
// defers every call, and a raw SIP peer on loopback that sends the requests of one dialog.
import type { Call, EngineOptions } from '../../src/index.js';
import type { LoopbackEngines } from './loopback-engines.js';
import { RawSip, request } from './raw-sip.js';
import { waitFor } from './wait.js';

const LO = '127.0.0.1';
export const SDPH = { 'Content-Type': 'application/sdp' };

/** The raw peer's one-stream audio SDP, with o= version `version`. */
export const rawSdp = (port: number, version: number, pt = '0', rtpmap = 'PCMU/8000'): string =>
  `v=0\no=raw 1 ${version} IN IP4 ${LO}\ns=-\nc=IN IP4 ${LO}\nt=0 0\nm=audio ${port} RTP/AVP ${pt}\na=rtpmap:${pt} ${rtpmap}\n`;

/** The o= line's session id and version of an SDP body. */
export const origin = (body: string): RegExpExecArray | null => /^o=\S+ (\S+) (\d+) /m.exec(body);

/**
 * An engine from `engines` and a raw peer (closed by the caller through `raws`): `invite` sends
 * the INVITE (and returns its text), `send` an in-dialog request with this CSeq and To, `reply` awaits the response to
 * one, `offered` the call the app was offered, `remote` the address our media goes to; `port`
 * is the engine's SIP port. `opts` adds engine options.
 */
export async function earlyDialog(engines: LoopbackEngines, raws: RawSip[], tag: string, opts: EngineOptions = {}) {
  const peer: { call?: Call } = {};
  const e = await engines.start({
    ...opts,
    onIncomingCall: (c) => {
      peer.call = c;
      return { action: 'defer' };
    },
  });
  const c = await new RawSip().open();
  raws.push(c);
  const port = e.sipPort!;
  const callId = `${tag}-${Math.random().toString(36).slice(2)}@x`;
  const invite = (headers: Record<string, string>, body = ''): string => {
    const text = request('INVITE', port, c.port, { 'Call-ID': callId, ...headers }, body);
    c.send(text, port);
    return text;
  };
  const send = (method: string, cseq: number, to: string, extra: Record<string, string> = {}, body = '') =>
    c.send(request(method, port, c.port, { 'Call-ID': callId, CSeq: `${cseq} ${method}`, To: to, ...extra }, body), port);
  const reply = (cseq: number, method: string) => c.response((r) => r.headers.get('CSeq') === `${cseq} ${method}`);
  const offered = async (): Promise<Call> => {
    await waitFor(() => peer.call !== undefined, 'the call offered to the app');
    return peer.call!;
  };
  const remote = () => e.sip!.legs.byCall(callId)?.sdp?.remote;
  return { c, port, invite, send, reply, offered, remote };
}
