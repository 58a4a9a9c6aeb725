// A machine's structure as plain JSON for the statechart viewer: states nested as in the machine,
// each with its transitions (event, targets, guard, actions). Built from the machine's StateNode
// tree (not `toJSON()`, whose transition targets are StateNode objects and whose inline guards
// are functions), once per machine and sent once per browser.
import { StateMachine, type AnyActorLogic, type AnyStateMachine, type AnyStateNode } from 'xstate';

export interface ViewerTransition {
  /** The event as the machine names it (`CALL.ANSWER`, `xstate.after.timerA.…`, `` for always). */
  event: string;
  /** A short label: `after timerA`, `always`, `done: child`, or the event type. */
  label: string;
  /** Target state node ids; empty for a transition that only runs actions. */
  targets: string[];
  guard?: string;
  actions: string[];
  /** Re-enters its source state (exit and entry run again). */
  reenter?: boolean;
}

export interface ViewerNode {
  /** The state node id (`call.active.talking`), unique in its machine. */
  id: string;
  key: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** Key of the initial child (compound states). */
  initial?: string;
  description?: string;
  tags: string[];
  entry: string[];
  exit: string[];
  invoke: string[];
  transitions: ViewerTransition[];
  states: ViewerNode[];
}

export function isStateMachine(logic: AnyActorLogic): logic is AnyStateMachine {
  return logic instanceof StateMachine;
}

type Named = string | { type?: unknown; guards?: unknown; name?: unknown } | ((...a: never[]) => unknown) | null | undefined;

function labelOf(x: Named, fallback: string): string {
  if (typeof x === 'string') return x;
  if (x === null || x === undefined) return fallback;
  if (typeof x === 'object' && typeof x.type === 'string') return x.type;
  // Combinators (and/or/not) are functions carrying their operands.
  const guards = (x as { guards?: unknown }).guards;
  const name = typeof (x as { name?: unknown }).name === 'string' && (x as { name: string }).name ? (x as { name: string }).name : fallback;
  if (Array.isArray(guards)) return `${name}(${guards.map((g: Named) => labelOf(g, 'inline')).join(', ')})`;
  return name;
}

const AFTER = /^xstate\.after\.([^.]+)\./;
const DONE = /^xstate\.done\.(?:actor|state)\.(.+)$/;
const ERROR = /^xstate\.error\.actor\.(.+)$/;

export function eventLabel(event: string): string {
  if (event === '') return 'always';
  const after = AFTER.exec(event);
  if (after) return /^\d+$/.test(after[1]!) ? `after ${after[1]} ms` : `after ${after[1]}`;
  const done = DONE.exec(event);
  if (done) return `done: ${done[1]}`;
  const err = ERROR.exec(event);
  if (err) return `error: ${err[1]}`;
  return event;
}

interface TransitionLike {
  eventType: string;
  target?: ReadonlyArray<{ id: string }> | undefined;
  guard?: unknown;
  actions?: readonly unknown[];
  reenter?: boolean;
}

function toTransition(t: TransitionLike): ViewerTransition {
  const out: ViewerTransition = {
    event: t.eventType,
    label: eventLabel(t.eventType),
    targets: (t.target ?? []).map((s) => s.id),
    actions: (t.actions ?? []).map((a) => labelOf(a as Named, 'inline')).filter((a) => a !== 'inline'),
  };
  if (t.guard !== undefined) out.guard = labelOf(t.guard as Named, 'inline');
  if (t.reenter) out.reenter = true;
  return out;
}

function toNode(node: AnyStateNode): ViewerNode {
  const transitions: ViewerTransition[] = [];
  for (const list of node.transitions.values()) for (const t of list) transitions.push(toTransition(t as unknown as TransitionLike));
  for (const t of node.always ?? []) transitions.push(toTransition(t as unknown as TransitionLike));
  const initialTarget = (node.initial as { target?: ReadonlyArray<{ key: string }> } | undefined)?.target?.[0];
  const out: ViewerNode = {
    id: node.id,
    key: node.key,
    type: node.type,
    tags: [...node.tags],
    entry: node.entry.map((a) => labelOf(a as Named, 'inline')).filter((a) => a !== 'inline'),
    exit: node.exit.map((a) => labelOf(a as Named, 'inline')).filter((a) => a !== 'inline'),
    invoke: node.invoke.map((i) => (typeof i.src === 'string' ? i.src : i.id)),
    transitions,
    states: Object.values(node.states as Record<string, AnyStateNode>).map(toNode),
  };
  if (initialTarget && node.type === 'compound') out.initial = initialTarget.key;
  if (node.description) out.description = node.description;
  return out;
}

/** The viewer's JSON form of a machine's states and transitions. */
export function describeMachine(machine: AnyStateMachine): ViewerNode {
  return toNode(machine.root);
}

/**
 * The ids of every state node active for a snapshot `value` (`{ active: 'talking' }` gives
 * `call`, `call.active`, `call.active.talking`), ancestors included.
 */
export function activeStateIds(root: ViewerNode, value: unknown): string[] {
  const out: string[] = [root.id];
  const walk = (node: ViewerNode, v: unknown): void => {
    if (typeof v === 'string') {
      const child = node.states.find((s) => s.key === v);
      if (child) out.push(child.id);
      return;
    }
    if (!v || typeof v !== 'object') return;
    for (const [k, sub] of Object.entries(v)) {
      const child = node.states.find((s) => s.key === k);
      if (!child) continue;
      out.push(child.id);
      walk(child, sub);
    }
  };
  walk(root, value);
  return out;
}
