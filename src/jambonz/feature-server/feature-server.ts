// callchart as the jambonz feature-server: each inbound SIP call becomes an FsSession that dials
// the application over `ws.jambonz.org` and runs its verbs on the call. The executor and gather
// machines are provided once here (ActorRegistry): their actions find their session by actor id.
import type { Logger } from 'pino';
import { createActor, type Actor } from 'xstate';
import type { Supervisor } from '../../actors/supervisor.js';
import { ActorRegistry } from '../../actors/registry.js';
import type { Call } from '../../call/call.js';
import { jambonzVerbExecutorMachine, type JambonzVerbExecutorMachine } from '../../../machines/jambonzVerbExecutor.machine.js';
import { jambonzGatherMachine, type GatherInput, type JambonzGatherMachine } from '../../../machines/jambonzGather.machine.js';
import type { GatherWire } from './verbs.js';
import { jambonzListenMachine, type JambonzListenMachine, type ListenInput } from '../../../machines/jambonzListen.machine.js';
import type { ListenWire } from './listen.js';
import { jambonzDialMachine, type DialInput, type JambonzDialMachine } from '../../../machines/jambonzDial.machine.js';
import type { DialWire } from './dial.js';
import { jambonzReferMachine, type JambonzReferMachine } from '../../../machines/jambonzRefer.machine.js';
import type { ReferWire } from './refer.js';
import { FsQueues } from './queues.js';
import { FsConferences } from './conferences.js';
import type { Room } from '../../rooms/index.js';
import type { Bridge } from '../../media/mixing/bridge.js';
import type { OutboundCallOptions } from '../../sip/ua/options.js';
import { FsSession } from './session.js';
import type { JambonzAppCommon } from './types.js';

export interface FeatureServerOptions extends JambonzAppCommon {
  supervisor: Supervisor;
  logger: Logger;
  /** The app's URL (resolved: an in-process handler's loopback URL is known only after listen()). */
  url: () => string;
  localSipAddress: () => string | undefined;
  /** dial's B leg and bridge (engine.call / engine.bridge). */
  placeCall(target: string, o: OutboundCallOptions): Promise<Call>;
  bridge(a: Call, b: Call): Bridge;
  /** The conference verb's rooms (engine.room); undefined when the engine has no rooms. */
  room: ((id: string) => Room) | undefined;
}

/** ws-requestor's RESPONSE_TIMEOUT_MS default. */
export const JAMBONZ_ACK_TIMEOUT_MS = 5000;

export class JambonzFeatureServer {
  private readonly log: Logger;
  private readonly sessions = new Set<FsSession>();
  private readonly executors: ActorRegistry<JambonzVerbExecutorMachine, FsSession>;
  private readonly gatherLogic: JambonzGatherMachine;
  private readonly gatherWires = new Map<string, GatherWire>();
  private readonly listenLogic: JambonzListenMachine;
  private readonly listenWires = new Map<string, ListenWire>();
  private readonly dialLogic: JambonzDialMachine;
  private readonly dialWires = new Map<string, DialWire>();
  private readonly referLogic: JambonzReferMachine;
  private readonly referWires = new Map<string, ReferWire>();
  private readonly queues: FsQueues;
  /** @internal the live conferences (tests read `size`). */
  readonly conferences: FsConferences;

  constructor(private readonly o: FeatureServerOptions) {
    this.log = o.logger.child({ component: 'jambonz-fs' });
    this.queues = new FsQueues(this.log);
    this.conferences = new FsConferences(this.log, o.room);
    this.executors = new ActorRegistry(o.supervisor, (of) =>
      jambonzVerbExecutorMachine.provide({
        delays: { ackTimeout: o.ackTimeoutMs ?? JAMBONZ_ACK_TIMEOUT_MS },
        actions: {
          startVerb: ({ self }, p) => of(self.id)?.startVerb(p.verb, p.seq),
          killVerb: ({ self }, p) => of(self.id)?.killVerb(p.seq),
          reportError: ({ self }, p) => of(self.id)?.reportError(p.error),
          hangupCall: ({ self }) => of(self.id)?.hangupCall(),
        },
      }),
    );
    // Gather actors are short-lived children of a verb run: not supervised, looked up by id.
    this.gatherLogic = jambonzGatherMachine.provide({
      actions: {
        stopPrompt: ({ self }) => this.gatherWires.get(self.id)?.stopPrompt(),
        stopSpeech: ({ self }) => this.gatherWires.get(self.id)?.stopSpeech(),
        finish: ({ self }, p) => this.gatherWires.get(self.id)?.finish(p),
      },
    });
    this.listenLogic = jambonzListenMachine.provide({
      delays: { maxLength: ({ context }) => context.maxLengthMs },
      actions: {
        sendMetadata: ({ self }) => this.listenWires.get(self.id)?.sendMetadata(),
        startStreaming: ({ self }) => this.listenWires.get(self.id)?.startStreaming(),
        holdStreaming: ({ self }) => this.listenWires.get(self.id)?.holdStreaming(),
        stopStreaming: ({ self }) => this.listenWires.get(self.id)?.stopStreaming(),
        reportFailure: ({ self }, p) => this.listenWires.get(self.id)?.reportFailure(p.error),
      },
    });
    const dw = (id: string): DialWire | undefined => this.dialWires.get(id);
    this.dialLogic = jambonzDialMachine.provide({
      actions: {
        placeCall: ({ self }, p) => dw(self.id)?.placeCall(p.legs),
        ringCaller: ({ self }) => dw(self.id)?.ringCaller(),
        answerCaller: ({ self }) => dw(self.id)?.answerCaller(),
        bridge: ({ self }, p) => dw(self.id)?.bridge(p.leg, p.muted),
        applyMute: ({ self }, p) => dw(self.id)?.mute(p.party, p.muted),
        unbridge: ({ self }) => dw(self.id)?.unbridge(),
        startWhisper: ({ self }, p) => dw(self.id)?.startWhisper(p.to, p.verbs),
        stopWhisper: ({ self }) => dw(self.id)?.stopWhisper(),
        hangupB: ({ self }, p) => dw(self.id)?.hangupB(p.legs),
      },
    });
    this.referLogic = jambonzReferMachine.provide({
      actions: {
        sendRefer: ({ self }) => this.referWires.get(self.id)?.sendRefer(),
        notifyEvent: ({ self }, p) => this.referWires.get(self.id)?.notifyEvent(p.code),
      },
    });
  }

  /** Live sessions. */
  get size(): number {
    return this.sessions.size;
  }

  /** Run `call` (an inbound SIP call, still ringing) as a jambonz session. */
  take(call: Call): void {
    const fs = this;
    const s = new FsSession(
      {
        url: this.o.url(),
        logger: this.log,
        accountSid: this.o.accountSid ?? 'callchart-account',
        applicationSid: this.o.applicationSid ?? 'callchart-application',
        localSipAddress: this.o.localSipAddress(),
        tts: this.o.tts,
        stt: this.o.stt,
        recordDir: this.o.recordDir,
        maxReconnects: this.o.maxReconnects,
        headers: this.o.headers,
        spawnExecutor(session) {
          return fs.executors.spawn(session, {
            kind: 'jambonz-executor',
            id: `jambonz-fs:${session.callSid}`,
            traced: true,
            bindings: { callSid: session.callSid, callId: call.id },
            onDone: () => session.finished(),
            onCrash: (err) => {
              fs.log.error({ err, callSid: session.callSid }, 'verb executor crashed: hanging up');
              session.finished();
            },
            onExit: () => session.finished(),
          });
        },
        spawnGather(id: string, input: GatherInput, wire: GatherWire): Actor<JambonzGatherMachine> {
          fs.gatherWires.set(id, wire);
          const a = createActor(fs.gatherLogic, { id, input });
          a.subscribe({ complete: () => fs.gatherWires.delete(id), error: () => fs.gatherWires.delete(id) });
          return a.start();
        },
        spawnListen(id: string, input: ListenInput, wire: ListenWire): Actor<JambonzListenMachine> {
          fs.listenWires.set(id, wire);
          const a = createActor(fs.listenLogic, { id, input });
          a.subscribe({ complete: () => fs.listenWires.delete(id), error: () => fs.listenWires.delete(id) });
          return a.start();
        },
        spawnDial(id: string, input: DialInput, wire: DialWire): Actor<JambonzDialMachine> {
          fs.dialWires.set(id, wire);
          const a = createActor(fs.dialLogic, { id, input });
          a.subscribe({ complete: () => fs.dialWires.delete(id), error: () => fs.dialWires.delete(id) });
          return a.start();
        },
        spawnRefer(id: string, wire: ReferWire): Actor<JambonzReferMachine> {
          fs.referWires.set(id, wire);
          const a = createActor(fs.referLogic, { id });
          a.subscribe({ complete: () => fs.referWires.delete(id), error: () => fs.referWires.delete(id) });
          return a.start();
        },
        placeCall: (target, o) => this.o.placeCall(target, o),
        bridge: (a, b) => this.o.bridge(a, b),
        phoneTrunk: this.o.phoneTrunk,
        queue: this.queues,
        conference: this.conferences,
        ackTimeoutMs: this.o.ackTimeoutMs ?? JAMBONZ_ACK_TIMEOUT_MS,
        forget(session) {
          fs.sessions.delete(session);
        },
      },
      call,
    );
    this.sessions.add(s);
    this.log.info({ callId: call.id, callSid: s.callSid, from: call.from, to: call.to }, 'inbound SIP call: opening the jambonz app');
    s.start();
  }

  close(): void {
    for (const s of this.sessions) s.finished();
    this.queues.close();
    this.conferences.close();
  }
}
