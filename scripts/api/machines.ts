/**
 * `callchart/machines`: the XState v5 machine definitions, pure (no I/O), with their events and
 * context types; their diagrams are in docs/statecharts.md.
 * @module callchart/machines
 */
export * from '../../machines/index.js';
