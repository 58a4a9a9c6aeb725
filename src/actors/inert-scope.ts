// A scope for running a machine's pure functions (getInitialSnapshot, transition) outside an actor:
// nothing is deferred, logged, stopped or emitted; each action the step would execute is handed to
// `onAction` instead. Used where a machine's step is taken without an actor (SIP transactions'
// first step, the INVITE session's cached start).
import type { AnyActorRef, AnyActorScope } from 'xstate';

export interface ExecutedAction {
  type: string;
  params: unknown;
}

export function inertScope(self: AnyActorRef, onAction: (action: ExecutedAction) => void): AnyActorScope {
  return {
    self,
    system: self.system,
    id: '',
    sessionId: '',
    defer: () => {},
    logger: () => {},
    stopChild: () => {},
    emit: () => {},
    actionExecutor: onAction,
  } as unknown as AnyActorScope;
}
