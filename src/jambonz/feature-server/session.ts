// One inbound SIP call run as a jambonz session: the app socket (app-socket.ts), the verb executor
// actor (machines/jambonzVerbExecutor.machine.ts, which owns the verb stack and the ack deadline)
// and the verb runners (verbs.ts). This class is the executor's wire: it starts and kills verb
// runs, sends hooks and notifications, turns acks and commands into executor events, and reports
// the call's status. Ack matching is by msgid of what the executor is waiting on right now.
import { randomHex, randomUuid } from '../../random.js';
import type { Logger } from 'pino';
import type { Actor } from 'xstate';
import type { Call, CallSipResponse } from '../../call/call.js';
import type { SupervisedActor } from '../../actors/supervisor.js';
import type { ExecVerb, JambonzVerbExecutorMachine } from '../../../machines/jambonzVerbExecutor.machine.js';
import type { GatherInput, JambonzGatherMachine } from '../../../machines/jambonzGather.machine.js';
import type { JambonzListenMachine, ListenInput } from '../../../machines/jambonzListen.machine.js';
import type { ListenWire } from './listen.js';
import type { DialInput, JambonzDialMachine } from '../../../machines/jambonzDial.machine.js';
import type { DialWire } from './dial.js';
import type { JambonzReferMachine } from '../../../machines/jambonzRefer.machine.js';
import type { ReferWire } from './refer.js';
import type { QueueHost } from './queue.js';
import type { ConferenceHost } from './conferences.js';
import type { Bridge } from '../../media/mixing/bridge.js';
import type { OutboundCallOptions } from '../../sip/ua/options.js';
import { validateVerbs } from '../verbs.js';
import { checkCommand, JAMBONZ_COMMAND_SCHEMAS, type JambonzCommandData } from '../protocol.js';
import { AppSocket, type AppAck, type AppCommand } from './app-socket.js';
import { runVerb, SUPPORTED_VERBS, type GatherWire, type SynthDefaults, type VerbHook, type VerbHost } from './verbs.js';
import type { JambonzSttProvider, JambonzTtsProvider } from './types.js';

/** What a session needs of the feature-server that runs it. */
export interface FsSessionHost {
  url: string;
  logger: Logger;
  accountSid: string;
  applicationSid: string;
  localSipAddress: string | undefined;
  tts: JambonzTtsProvider | undefined;
  stt: JambonzSttProvider | undefined;
  recordDir: string | undefined;
  maxReconnects: number | undefined;
  headers: Record<string, string> | undefined;
  spawnExecutor(session: FsSession): SupervisedActor<JambonzVerbExecutorMachine>;
  spawnGather(id: string, input: GatherInput, wire: GatherWire): Actor<JambonzGatherMachine>;
  spawnListen(id: string, input: ListenInput, wire: ListenWire): Actor<JambonzListenMachine>;
  spawnDial(id: string, input: DialInput, wire: DialWire): Actor<JambonzDialMachine>;
  spawnRefer(id: string, wire: ReferWire): Actor<JambonzReferMachine>;
  placeCall(target: string, o: OutboundCallOptions): Promise<Call>;
  bridge(a: Call, b: Call): Bridge;
  phoneTrunk: string | undefined;
  queue: QueueHost;
  conference: ConferenceHost;
  /** How long a hook waits for its ack (ackTimeoutMs). */
  ackTimeoutMs: number;
  forget(session: FsSession): void;
}

const userOf = (uri: string | undefined): string => /^sips?:([^@;>]+)@/i.exec(uri ?? '')?.[1] ?? uri ?? '';

/**
 * session:new's `sip`: the INVITE as drachtio-srf's SipMessage serialises it (jambonz sends
 * `{ sip: req.msg }`): `headers` by lower-case name, repeated headers joined with ',', then
 * `body`, `method`, `version`, `uri`. Built with fromEntries so a header named `__proto__` stays data.
 */
function sipMessageOf(call: Call): Record<string, unknown> {
  const inv = call.sipInvite;
  if (!inv) return { headers: { from: call.from ?? '', to: call.to ?? '', 'call-id': call.id }, method: 'INVITE', ...(call.to ? { uri: call.to } : {}) };
  const headers = new Map<string, string>();
  for (const h of inv.headers) {
    const k = h.name.toLowerCase();
    const prev = headers.get(k);
    headers.set(k, prev === undefined ? h.value : `${prev},${h.value}`);
  }
  return { headers: Object.fromEntries(headers), body: inv.body, method: 'INVITE', version: '2.0', uri: inv.uri };
}

/** call-info.js: `callerName = from.name || ''` (the From header's display name). */
function callerNameOf(call: Call): string {
  const from = call.sipHeader('From') ?? '';
  const m = /^\s*(?:"((?:[^"\\]|\\.)*)"|([^<"]*?))\s*</.exec(from);
  return (m?.[1] ?? m?.[2] ?? '').replace(/\\(.)/g, '$1').trim();
}

/** `{ verb: name, … }` or `{ name: {…} }` → `{ verb: name, … }`; anything else keeps a name that fails validation. */
function normalize(v: unknown): ExecVerb {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (typeof o.verb === 'string') return o as ExecVerb;
    const keys = Object.keys(o);
    const inner = keys.length === 1 ? o[keys[0]!] : undefined;
    if (inner && typeof inner === 'object' && !Array.isArray(inner)) return { verb: keys[0]!, ...(inner as Record<string, unknown>) };
  }
  return { verb: '(not a verb)', value: v };
}
const normalizeAll = (data: unknown): ExecVerb[] => (Array.isArray(data) ? data.map(normalize) : []);

export class FsSession implements VerbHost {
  readonly callSid = randomUuid();
  readonly logger: Logger;
  readonly synth: SynthDefaults = {};
  readonly recognizer: { vendor?: string; language?: string } = {};
  readonly socket: AppSocket;
  private exec!: SupervisedActor<JambonzVerbExecutorMachine>;
  private readonly sessionData: Record<string, unknown>;
  private customerData: Record<string, unknown> = {};
  private callStatus = 'trying';
  private notifyEvents = false;
  /** The message whose ack the executor waits on (session:new, a hook), and the verb run in flight. */
  private waiting: string | undefined;
  private run: { seq: number; abort: AbortController; verb: ExecVerb } | undefined;
  private gathers = 0;
  /** The running dial's actor and wire, for whisper. */
  private dial: { actor: Actor<JambonzDialMachine>; wire: DialWire } | undefined;
  /** The running conference's mute of this call, for mute:status. */
  private conferenceMute: ((muted: boolean) => void) | undefined;
  /** The running listen/stream verb's actor, for listen:status. */
  private listen: Actor<JambonzListenMachine> | undefined;
  private ended = false;
  /** Hooks a running verb waits on itself (enqueue's waitHook), by msgid; not the executor's. */
  private readonly verbRequests = new Map<string, (verbs: ExecVerb[]) => void>();

  constructor(
    private readonly host: FsSessionHost,
    readonly call: Call,
  ) {
    this.logger = host.logger.child({ callSid: this.callSid, callId: call.id });
    this.socket = new AppSocket({
      url: host.url,
      callSid: this.callSid,
      logger: this.logger,
      ...(host.maxReconnects !== undefined ? { maxReconnects: host.maxReconnects } : {}),
      ...(host.headers ? { headers: host.headers } : {}),
    });
    const from = userOf(call.from);
    const to = userOf(call.to);
    // session:new data: jambonz's callInfo, snake-cased (lib/session/call-info.js + ws-requestor).
    this.sessionData = {
      call_sid: this.callSid,
      direction: 'inbound',
      from,
      to,
      call_id: call.id,
      caller_name: callerNameOf(call),
      sip_status: 100,
      call_status: 'trying',
      account_sid: host.accountSid,
      application_sid: host.applicationSid,
      trace_id: randomHex(16),
      ...(host.localSipAddress ? { local_sip_address: host.localSipAddress, fs_sip_address: host.localSipAddress } : {}),
      sip: sipMessageOf(call),
    };
  }

  get tts(): JambonzTtsProvider | undefined {
    return this.host.tts;
  }

  get recordDir(): string | undefined {
    return this.host.recordDir;
  }

  get stt(): JambonzSttProvider | undefined {
    return this.host.stt;
  }

  start(): void {
    this.exec = this.host.spawnExecutor(this);
    this.socket.on('ack', (a) => this.onAck(a));
    this.socket.on('command', (c) => this.onCommand(c));
    this.socket.on('invalid', (details, content) => {
      this.logger.warn({ details }, 'invalid message from the jambonz app');
      this.notify('jambonz:error', { msg: 'InvalidMessage', details, content: content.slice(0, 1024) });
    });
    this.socket.on('reconnected', (msgid) => {
      // jambonz moves a still-unacked session:new wait to the session:reconnect.
      if (this.waiting !== undefined && this.exec.ref.getSnapshot().matches('awaitingApp')) this.waiting = msgid;
      this.logger.info('jambonz app socket back: session:reconnect sent');
    });
    this.socket.on('gone', (reason) => {
      if (this.ended) return;
      this.logger.warn({ reason }, 'jambonz app gone: hanging up');
      this.exec.ref.send({ type: 'APP.GONE', error: reason });
    });
    this.call.on('answered', () => this.status('in-progress', 200));
    this.call.once('ended', (end) => {
      const answered = this.call.answeredAt !== undefined;
      const st = answered ? 'completed' : end.reason === 'cancelled' ? 'no-answer' : end.reason === 'rejected' || end.reason === 'local-hangup' ? 'failed' : 'completed';
      this.status(st, end.code ?? (answered ? 200 : 487));
      this.exec.ref.send({ type: 'CALL.ENDED' });
    });
    this.waiting = this.socket.send('session:new', this.sessionData, this.b3());
    this.socket.connect().catch((err: unknown) => {
      const reason = `cannot reach the jambonz app at ${this.host.url}: ${err instanceof Error ? err.message : String(err)}`;
      this.logger.warn({ url: this.host.url }, reason);
      this.exec.ref.send({ type: 'APP.GONE', error: reason });
    });
  }

  // ---- the executor's wire -------------------------------------------------------------------

  startVerb(verb: ExecVerb, seq: number): void {
    const send = (ev: { type: 'VERB.DONE'; seq: number; hook?: boolean } | { type: 'VERB.FAILED'; seq: number; error: string }): void => {
      if (this.run?.seq === seq) this.run = undefined;
      this.exec.ref.send(ev);
    };
    if (!SUPPORTED_VERBS.has(verb.verb)) {
      queueMicrotask(() => send({ type: 'VERB.FAILED', seq, error: `${verb.verb}: verb not supported by the callchart feature-server` }));
      return;
    }
    try {
      validateVerbs([verb]);
    } catch (err) {
      queueMicrotask(() => send({ type: 'VERB.FAILED', seq, error: err instanceof Error ? err.message : String(err) }));
      return;
    }
    const abort = new AbortController();
    this.run = { seq, abort, verb };
    this.verbStatus(verb, 'starting');
    this.logger.debug({ verb: verb.verb, seq }, 'verb starts');
    runVerb(this, verb, abort.signal).then(
      (r) => {
        this.verbStatus(verb, 'finished');
        if (abort.signal.aborted) return;
        if (r.hook) this.sendHook(r.hook);
        send({ type: 'VERB.DONE', seq, ...(r.hook ? { hook: true } : {}) });
      },
      (err: unknown) => {
        if (abort.signal.aborted) return;
        send({ type: 'VERB.FAILED', seq, error: err instanceof Error ? err.message : String(err) });
      },
    );
  }

  killVerb(seq: number): void {
    if (this.run?.seq !== seq) return;
    this.run.abort.abort();
    this.run = undefined;
  }

  reportError(error: string): void {
    this.logger.warn({ error }, 'jambonz session error');
    this.notify('jambonz:error', { msg: error, ...(this.run ? { verb: this.run.verb.verb } : {}) });
  }

  hangupCall(): void {
    if (!this.call.isEnded) this.call.hangup('jambonz application over');
  }

  /** The executor is done: the socket closes with 1000 once the last status went out. */
  finished(): void {
    if (this.ended) return;
    this.ended = true;
    this.run?.abort.abort();
    for (const done of [...this.verbRequests.values()]) done([]);
    this.hangupCall();
    // Let the final call:status go before the close.
    setImmediate(() => this.socket.close(1000));
    this.host.forget(this);
  }

  // ---- VerbHost -------------------------------------------------------------------------------

  hookData(): Record<string, unknown> {
    return { ...this.sessionData, call_status: this.callStatus, ...(Object.keys(this.customerData).length ? { customerData: this.customerData } : {}) };
  }

  ensureAnswered(): Promise<void> {
    if (this.call.isActive) return Promise.resolve();
    if (this.call.isEnded) return Promise.reject(new Error('the call has ended'));
    return new Promise((resolve, reject) => {
      const ok = (): void => {
        this.call.off('ended', gone);
        resolve();
      };
      const gone = (): void => {
        this.call.off('answered', ok);
        reject(new Error('the call ended before it was answered'));
      };
      this.call.once('answered', ok);
      this.call.once('ended', gone);
      this.call.answer();
    });
  }

  tag(data: Record<string, unknown>): void {
    this.customerData = { ...data };
  }

  configure(props: Record<string, unknown>): void {
    const s = props.synthesizer as SynthDefaults | undefined;
    if (s) Object.assign(this.synth, { vendor: s.vendor, language: s.language, voice: s.voice });
    const r = props.recognizer as { vendor?: unknown; language?: unknown } | undefined;
    if (r && typeof r === 'object') {
      if (typeof r.vendor === 'string') this.recognizer.vendor = r.vendor;
      if (typeof r.language === 'string') this.recognizer.language = r.language;
    }
    if (typeof props.notifyEvents === 'boolean') this.notifyEvents = props.notifyEvents;
    const ignored = Object.keys(props).filter((k) => k !== 'synthesizer' && k !== 'recognizer' && k !== 'notifyEvents');
    if (ignored.length) this.logger.info({ ignored }, 'config: these settings do not apply here and are ignored');
  }

  setConferenceMute(mute: ((muted: boolean) => void) | undefined): void {
    this.conferenceMute = mute;
  }

  spawnGather(input: GatherInput, wire: GatherWire): Actor<JambonzGatherMachine> {
    return this.host.spawnGather(`gather:${this.callSid}:${++this.gathers}`, input, wire);
  }

  spawnListen(input: ListenInput, wire: ListenWire): Actor<JambonzListenMachine> {
    const a = this.host.spawnListen(`listen:${this.callSid}:${++this.gathers}`, input, wire);
    this.listen = a;
    a.subscribe({ complete: () => void (this.listen === a && (this.listen = undefined)) });
    return a;
  }

  spawnDial(input: DialInput, wire: DialWire): Actor<JambonzDialMachine> {
    const actor = this.host.spawnDial(`dial:${this.callSid}:${++this.gathers}`, input, wire);
    const d = { actor, wire };
    this.dial = d;
    actor.subscribe({ complete: () => void (this.dial === d && (this.dial = undefined)) });
    return actor;
  }

  spawnRefer(wire: ReferWire): Actor<JambonzReferMachine> {
    return this.host.spawnRefer(`refer:${this.callSid}:${++this.gathers}`, wire);
  }

  placeCall(target: string, o: OutboundCallOptions): Promise<Call> {
    return this.host.placeCall(target, o);
  }

  bridge(a: Call, b: Call): Bridge {
    return this.host.bridge(a, b);
  }

  get phoneTrunk(): string | undefined {
    return this.host.phoneTrunk;
  }

  get queue(): QueueHost {
    return this.host.queue;
  }

  get conference(): ConferenceHost {
    return this.host.conference;
  }

  requestHook(url: string, data: Record<string, unknown>): Promise<ExecVerb[]> {
    if (this.ended) return Promise.resolve([]);
    const msgid = this.socket.send('verb:hook', data, { hook: url, ...this.b3() });
    return new Promise((resolve) => {
      // No ack in time: the verb goes on as with an empty reply (jambonz logs and carries on).
      const t = setTimeout(() => done([]), this.host.ackTimeoutMs);
      const done = (verbs: ExecVerb[]): void => {
        clearTimeout(t);
        this.verbRequests.delete(msgid);
        resolve(verbs);
      };
      this.verbRequests.set(msgid, done);
    });
  }

  async runNested(verb: ExecVerb, signal: AbortSignal): Promise<void> {
    validateVerbs([verb]);
    await runVerb(this, verb, signal);
  }

  notifyHook(url: string, data: Record<string, unknown>): void {
    // Not `waiting`: the executor waits on no ack for it (dial.js sends dtmfHook and goes on).
    this.socket.send('verb:hook', data, { hook: url, ...this.b3() });
  }

  // ---- messages ---------------------------------------------------------------------------------

  private b3(): { b3?: string } {
    const ctx = this.exec?.span?.spanContext();
    return ctx ? { b3: `${ctx.traceId}-${ctx.spanId}-1` } : {};
  }

  private notify(type: 'jambonz:error' | 'verb:status' | 'call:status', data: Record<string, unknown>): void {
    this.socket.send(type, data);
  }

  private verbStatus(verb: ExecVerb, event: 'starting' | 'finished'): void {
    // call-session.js notifies task status only when the app asked with config notifyEvents.
    if (this.notifyEvents) this.notify('verb:status', { ...(typeof verb.id === 'string' ? { id: verb.id } : {}), name: verb.verb, event });
  }

  private status(callStatus: string, sipStatus: number): void {
    this.callStatus = callStatus;
    this.notify('call:status', { ...this.hookData(), call_status: callStatus, sip_status: sipStatus });
  }

  private sendHook(h: VerbHook): void {
    this.waiting = this.socket.send(h.type, h.data, { hook: h.url, ...this.b3() });
  }

  private onAck(a: AppAck): void {
    const side = this.verbRequests.get(a.msgid);
    if (side) return side(normalizeAll(a.data));
    if (a.msgid !== this.waiting) {
      this.logger.debug({ msgid: a.msgid }, 'ack for nothing waiting (late or unknown): ignored');
      return;
    }
    this.waiting = undefined;
    const verbs = normalizeAll(a.data);
    const snap = this.exec.ref.getSnapshot();
    if (snap.matches('awaitingApp')) this.exec.ref.send({ type: 'APP.VERBS', verbs });
    else this.exec.ref.send({ type: 'HOOK.REPLY', verbs });
  }

  /**
   * call-session.js `_lccSipRequest`: a request in the caller's dialog, its `content_type` as the
   * Content-Type. jambonz logs the response and tells the app nothing; so does this.
   */
  private sipRequest(r: JambonzCommandData['sip:request']['sip_request'], bad: (details: string) => void): void {
    const headers = Object.fromEntries(Object.entries(r.headers ?? {}).filter(([k]) => k.toLowerCase() !== 'content-type'));
    const contentType = r.content_type ?? Object.entries(r.headers ?? {}).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
    let sent: Promise<CallSipResponse>;
    try {
      sent = this.call.sipRequest(r.method, { headers, ...(r.content !== undefined ? { body: r.content } : {}), ...(contentType !== undefined ? { contentType } : {}) });
    } catch (err) {
      return bad(err instanceof Error ? err.message : String(err));
    }
    sent.then(
      (res) => this.logger.info({ method: r.method, status: res.status, reason: res.reason }, 'sip:request answered'),
      (err: unknown) => this.logger.info({ method: r.method, err: err instanceof Error ? err.message : String(err) }, 'sip:request not sent'),
    );
  }

  /**
   * call-session.js `_lccWhisper` → dial.js `whisper`: say/play verbs to one party of the running
   * dial while the two are unbridged. dial.js plays to B when the command's call_sid is B's; B's
   * sid reaches the app only in the actionHook here, so any call_sid but the session's own means B.
   */
  private whisper(c: AppCommand, bad: (details: string) => void): void {
    let verbs: ExecVerb[];
    try {
      const w = checkCommand('whisper', c.data as JambonzCommandData['whisper']) as JambonzCommandData['whisper'];
      verbs = (Array.isArray(w.whisper) ? w.whisper : [w.whisper]).map(normalize);
    } catch (err) {
      return bad(err instanceof Error ? err.message : String(err));
    }
    const d = this.dial;
    if (!d || !d.actor.getSnapshot().matches({ bridged: 'connected' })) return bad('no bridged dial to whisper into (or a whisper is playing)');
    const to = c.callSid !== undefined && c.callSid !== this.callSid ? 'callee' : 'caller';
    this.logger.info({ to, calleeSid: d.wire.calleeSid(), verbs: verbs.length }, 'whisper');
    d.actor.send({ type: 'WHISPER', to, verbs });
  }

  /**
   * call-session.js `_lccMuteStatus` → dial.js / conference.js `mute`: in a dial, the party the
   * call_sid names (any but the session's own: B, as for whisper) is muted towards the other; in a
   * conference, this call's member of the room.
   */
  private muteStatus(c: AppCommand, muted: boolean, bad: (details: string) => void): void {
    const d = this.dial;
    if (d) {
      const party = c.callSid !== undefined && c.callSid !== this.callSid ? 'callee' : 'caller';
      this.logger.info({ party, muted }, 'mute:status');
      d.actor.send({ type: 'MUTE', party, muted });
      return;
    }
    if (this.conferenceMute) {
      this.logger.info({ muted }, 'mute:status (conference)');
      this.conferenceMute(muted);
      return;
    }
    bad('neither a dial nor a conference is running');
  }

  /** call-session.js `_lccListenStatus` → listen.js `updateListen`: pause or resume the running listen. */
  private listenStatus(status: JambonzCommandData['listen:status']['listen_status'], bad: (details: string) => void): void {
    if (!this.listen) return bad('no listen or stream verb is running');
    // updateListen acts on pause and resume only; anything else changes nothing there either.
    if (status === 'pause' || status === 'resume') this.listen.send({ type: status === 'pause' ? 'PAUSE' : 'RESUME' });
    else this.logger.info({ status }, 'listen:status: only pause and resume apply');
  }

  private onCommand(c: AppCommand): void {
    const bad = (details: string): void => {
      this.logger.warn({ command: c.command, details }, 'jambonz command refused');
      this.notify('jambonz:error', { msg: `command ${c.command}: ${details}` });
    };
    if (c.command === 'redirect') {
      if (!Array.isArray(c.data)) return bad('data must be a verb array');
      this.exec.ref.send({ type: 'APP.VERBS', verbs: normalizeAll(c.data), queue: c.queueCommand });
      return;
    }
    if (c.command === 'whisper') return this.whisper(c, bad);
    const schema = (JAMBONZ_COMMAND_SCHEMAS as Record<string, { safeParse(d: unknown): { success: boolean; data?: unknown; error?: { issues: Array<{ message: string }> } } } | undefined>)[c.command];
    if (!schema) return bad('unknown or unsupported command');
    const r = schema.safeParse(c.data);
    if (!r.success) return bad(r.error?.issues[0]?.message ?? 'invalid data');
    const data: unknown = r.data;
    switch (c.command) {
      case 'call:status': {
        const st = (data as { call_status: string }).call_status;
        if (st === 'completed') this.hangupCall();
        else if (st === 'no-answer' && !this.call.isActive) this.call.reject(480, 'Temporarily Unavailable');
        return;
      }
      case 'mute:status':
        return this.muteStatus(c, (data as JambonzCommandData['mute:status']).mute_status === 'mute', bad);
      case 'dtmf': {
        const d = (data as { dtmf: { digit: string } }).dtmf;
        try {
          this.call.sendDtmf(d.digit);
        } catch (err) {
          bad(err instanceof Error ? err.message : String(err));
        }
        return;
      }
      case 'tag':
        this.tag((data as { tag: Record<string, unknown> }).tag);
        return;
      case 'sip:request':
        return this.sipRequest((data as JambonzCommandData['sip:request']).sip_request, bad);
      case 'listen:status':
        return this.listenStatus((data as JambonzCommandData['listen:status']).listen_status, bad);
      default:
        return bad('command not supported by the callchart feature-server');
    }
  }
}
