// A jambonz feature-server simulator, written from the WebSocket API reference and from what
// jambonz-feature-server's ws-requestor sends: it dials the app's hook URL with subprotocol
// `ws.jambonz.org`, sends session:new / verb:hook / call:status … with realistic payloads, and
// waits for the app's acks (matched by msgid) and commands.
import { randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import { TestClient } from './ws-client.js';

export const newMsgid = () => randomBytes(16).toString('base64url').slice(0, 22);
export const newCallSid = () => {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

export interface SimAck {
  type: 'ack';
  msgid: string;
  data?: Array<Record<string, unknown> & { verb: string }>;
}
export interface SimCommand {
  type: 'command';
  command: string;
  queueCommand?: boolean;
  data?: unknown;
  callSid?: string;
}

/** The call description jambonz sends with session:new (trimmed from the API reference's example). */
export function callInfo(callSid: string, o: { direction?: 'inbound' | 'outbound'; from?: string; to?: string; call_status?: string } = {}) {
  const from = o.from ?? '+15083084809';
  const to = o.to ?? '+15083728299';
  return {
    sip: {
      headers: {
        via: 'SIP/2.0/UDP 3.212.205.202;rport=5060;branch=z9hG4bK3tv053jp1mcHQ;received=10.0.13.72',
        'max-forwards': '70',
        from: `<sip:${from}@3.212.205.202:5060>;tag=9mgyBeaUy4H2S`,
        to: `<sip:${to}@3.212.205.202>`,
        'call-id': 'd8907723-0bc7-123b-09b5-12e962f3039b',
        cseq: '48063641 INVITE',
        contact: '<sip:10.0.13.72:5060>',
        'user-agent': 'Twilio Gateway',
        'content-type': 'application/sdp',
        'X-Account-Sid': '9351f46a-678c-43f5-b8a6-d4eb58d131af',
        'X-Originating-Carrier': 'Twilio',
      },
      raw: `INVITE sip:${to}@10.0.13.72:5070 SIP/2.0\r\n…`,
      body: 'v=0\r\n…',
      method: 'INVITE',
      version: '2.0',
      uri: `sip:${to}@10.0.13.72:5070`,
      payload: [{ type: 'application/sdp', content: 'v=0\r\n…' }],
    },
    direction: o.direction ?? 'inbound',
    trace_id: 'c4e9f1ac6e3a8b52f0b0f5e1d2a3b4c5',
    caller_name: '',
    call_sid: callSid,
    account_sid: '9351f46a-678c-43f5-b8a6-d4eb58d131af',
    application_sid: '7087fe50-8acb-4f3b-b820-97b573723aab',
    from,
    to,
    call_id: 'd8907723-0bc7-123b-09b5-12e962f3039b',
    sip_status: 100,
    sip_reason: 'Trying',
    call_status: o.call_status ?? 'trying',
    originating_sip_ip: '54.172.60.3',
    originating_sip_trunk_name: 'Twilio',
    local_sip_address: '10.0.13.72:5070',
    defaults: { synthesizer: { vendor: 'microsoft', language: 'en-US', voice: 'en-US-JennyNeural' } },
  };
}

export class JambonzSim {
  readonly client: TestClient;
  private constructor(url: string, protocols: string | string[] | undefined, options?: WebSocket.ClientOptions) {
    this.client = new TestClient(url, protocols, options);
  }

  /** Open a hook socket the way the feature-server does (subprotocol `ws.jambonz.org`). */
  static async connect(url: string, protocols: string | string[] | undefined = 'ws.jambonz.org', options?: WebSocket.ClientOptions): Promise<JambonzSim> {
    const sim = new JambonzSim(url, protocols, options);
    await sim.client.opened();
    return sim;
  }

  get protocol(): string {
    return this.client.ws.protocol;
  }

  send(msg: object | string): void {
    this.client.send(msg);
  }

  private message(type: string, callSid: string, extra: Record<string, unknown>): string {
    const msgid = newMsgid();
    this.send({ type, msgid, call_sid: callSid, ...extra });
    return msgid;
  }

  sessionNew(callSid: string, o: Parameters<typeof callInfo>[1] & { b3?: string } = {}): string {
    return this.message('session:new', callSid, { data: callInfo(callSid, o), ...(o.b3 ? { b3: o.b3 } : {}) });
  }

  /** session:reconnect carries the saved session:new payload (ws-requestor resends _sessionData). */
  reconnect(callSid: string): string {
    return this.message('session:reconnect', callSid, { data: callInfo(callSid) });
  }

  verbHook(callSid: string, hook: string, data: Record<string, unknown>): string {
    return this.message('verb:hook', callSid, { hook, data: { ...callInfo(callSid, { call_status: 'in-progress' }), ...data } });
  }

  /** A gather's actionHook after a key press. */
  gatherDigits(callSid: string, hook: string, digits: string): string {
    return this.verbHook(callSid, hook, { reason: 'dtmfDetected', digits });
  }

  sessionRedirect(callSid: string, hook: string): string {
    return this.message('session:redirect', callSid, { hook, data: callInfo(callSid, { call_status: 'in-progress' }) });
  }

  callStatus(callSid: string, call_status: string, sip: { sip_status?: number; sip_reason?: string } = {}): string {
    return this.message('call:status', callSid, { data: { ...callInfo(callSid, { call_status }), sip_status: sip.sip_status ?? 200, sip_reason: sip.sip_reason ?? 'OK' } });
  }

  verbStatus(callSid: string, id: string, verb: string, status: 'begin' | 'end'): string {
    return this.message('verb:status', callSid, { data: { id, verb, status } });
  }

  jambonzError(callSid: string, error: string, verb: string): string {
    return this.message('jambonz:error', callSid, { data: { error, verb } });
  }

  /** The ack for `msgid` (fails after `timeoutMs`). */
  async ack(msgid: string, timeoutMs = 5000): Promise<SimAck> {
    const f = await this.client.next((f) => f.kind === 'text' && f.json?.type === 'ack' && f.json?.msgid === msgid, timeoutMs);
    return (f as { json: SimAck }).json;
  }

  /** The next command (optionally of a given name). */
  async command(name?: string, timeoutMs = 5000): Promise<SimCommand> {
    const f = await this.client.next((f) => f.kind === 'text' && f.json?.type === 'command' && (name === undefined || f.json?.command === name), timeoutMs);
    return (f as { json: SimCommand }).json;
  }

  /** Everything received and not yet consumed, as JSON. */
  pending(): unknown[] {
    return this.client.pending().map((f) => (f.kind === 'text' ? f.json : '<binary>'));
  }

  /** Normal close from the jambonz side (the call is over). */
  close(code = 1000): void {
    if (this.client.ws.readyState === this.client.ws.OPEN) this.client.ws.close(code);
  }

  /** The socket drops without a close handshake (network loss): the server sees 1006. */
  drop(): void {
    this.client.ws.terminate();
  }

  waitClose(timeoutMs = 5000) {
    return this.client.waitClose(timeoutMs);
  }
}
