// Every statechart of the engine, pure and provider-free: import them to inspect, test or reuse.
export * from './call.machine.js';
