// `callchart serve`: the engine with the demo application, and the CLI's other commands. Flags
// override CALLCHART_* env vars, which override defaults (parsed in cli-args.ts).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createEngine, type Engine, type EngineOptions } from './engine.js';
import { createCliLogger, defaultLogFormat } from './logging/format.js';
import { combineTraceHooks, sipTraceLogger } from './logging/sip-trace.js';
import { HepExporter } from './logging/hep-exporter.js';
import { demoApp, demoJambonz } from './demo.js';
import { commandTts } from './jambonz/feature-server/index.js';
import path from 'node:path';
import { counterService } from './rooms/index.js';
import { createFileStore } from './playback/index.js';
import { SipWorkers } from './sip/workers/router.js';
import { installProcessGuard } from './process-guard.js';
import { dispatcherListCommand, parseDispatcherListArgs } from './cluster/cli.js';

export { HELP } from './cli-help.js';
import { HELP } from './cli-help.js';
import { UsageError, packageVersion, parseServeArgs, parseMintArgs, mint, strictRtpOptions, type ServeConfig } from './cli-args.js';
export { UsageError, argsError, packageVersion, parseSipUsers, parseSipRegister, parseServeArgs, parseMintArgs, mint, strictRtpOptions } from './cli-args.js';
export type { ServeConfig, MintArgs } from './cli-args.js';

/** The engine's TCP/TLS options and tag secret from the config (the files are read here, once). */
function sipStreamOptions(cfg: ServeConfig): NonNullable<EngineOptions['sip']> {
  return {
    ...(cfg.sipTagSecretFile !== undefined ? { tagSecret: tagSecretOf(cfg.sipTagSecretFile) } : {}),
    ...(cfg.sipTcpPort !== undefined ? { tcpPort: cfg.sipTcpPort } : {}),
    ...(cfg.sipTlsPort !== undefined && cfg.tlsCert && cfg.tlsKey
      ? { tlsPort: cfg.sipTlsPort, tls: { cert: readFileSync(cfg.tlsCert), key: readFileSync(cfg.tlsKey) } }
      : {}),
  };
}

/** The secret file's bytes without trailing whitespace (a newline an editor added is no part of it). */
function tagSecretOf(file: string): Buffer {
  let b = readFileSync(file);
  let end = b.length;
  while (end > 0 && (b[end - 1] === 0x0a || b[end - 1] === 0x0d || b[end - 1] === 0x20)) end--;
  b = b.subarray(0, end);
  if (b.length < 16) throw new UsageError(`--sip-tag-secret-file ${JSON.stringify(file)} holds ${b.length} bytes; at least 16 are needed`);
  return b;
}

export async function serve(cfg: ServeConfig): Promise<Engine> {
  const logger = createCliLogger({ level: cfg.logLevel, format: cfg.logFormat ?? defaultLogFormat() });
  // With SIP workers the main thread's engine serves the WebSocket protocols only; SIP calls and
  // their actors live in the workers (and so are not shown by this process's inspector).
  const sipWorkers = cfg.sipWorkers ?? 0;
  const sipHere = cfg.sipPort !== false && sipWorkers === 0;
  // With SIP workers each thread traces and exports its own SIP (SipWorkersOptions.log).
  const hep = cfg.hep && sipHere ? new HepExporter({ ...cfg.hep, logger }) : undefined;
  const trace = sipHere ? combineTraceHooks(cfg.sipTrace ? sipTraceLogger(logger) : undefined, hep?.hook) : undefined;
  const rate = cfg.sipInviteRate;
  const rateLimits = rate === undefined ? undefined : { invite: rate === false ? (false as const) : { rate, burst: 2 * rate } };
  const latch = strictRtpOptions(cfg);
  // Options every SIP UA takes (main thread or workers): strict RTP, SRTP, session timers.
  const mediaSip = {
    ...(latch ? { strictRtp: latch } : {}),
    ...(cfg.srtp ? { srtp: cfg.srtp } : {}),
    ...(cfg.sipSessionExpires ? { sessionTimers: { expires: cfg.sipSessionExpires } } : {}),
    ...(cfg.sip100rel ? { reliableProvisionals: cfg.sip100rel } : {}),
    ...(cfg.sipUnreliableEarlyMedia === false ? { unreliableEarlyMedia: false } : {}),
  };
  let registrar: Engine | undefined;
  const engine = createEngine({
    host: cfg.host,
    wsPort: cfg.wsPort,
    sipPort: sipHere ? cfg.sipPort : false,
    rtpPorts: cfg.rtpPorts,
    maxCalls: cfg.maxCalls,
    logger,
    sip: { allow: cfg.sipAllow, rateLimits, auth: cfg.sipAuth, maxPendingInvites: cfg.sipMaxPendingInvites, ...mediaSip, ...(trace ? { trace } : {}), ...sipStreamOptions(cfg) },
    inspect: cfg.inspect || false,
    // The engine binds only what it is told; the server's defaults are spelled out here.
    inboundCall: {},
    // Connects calls between registered users (the engine exists once createEngine returns).
    onIncomingCall: demoApp({ registrar: () => registrar, ...(cfg.streamUrl ? { streamUrl: cfg.streamUrl } : {}) }),
    ...(cfg.jambonzApp ? { jambonzApp: { url: cfg.jambonzApp, ...(cfg.jambonzTts ? { tts: commandTts(cfg.jambonzTts) } : {}), ...(cfg.jambonzPhoneTrunk ? { phoneTrunk: cfg.jambonzPhoneTrunk } : {}) } } : {}),
    rooms: { service: counterService },
    playback: { store: createFileStore({ dir: cfg.dataDir }) },
    jambonz: { recordingsDir: path.join(cfg.dataDir, 'recordings') },
    ...(cfg.security ? { security: cfg.security } : {}),
    ...(cfg.metricsPort !== undefined ? { metricsPort: cfg.metricsPort } : {}),
    ...(cfg.adminToken ? { adminToken: cfg.adminToken } : {}),
    ...(cfg.metrics === false ? { metrics: false as const } : {}),
    // With SIP worker threads the engine itself binds no SIP: the configured port is advertised.
    ...(cfg.cluster ? { cluster: { ...cfg.cluster, ...(!sipHere && cfg.sipPort ? { sipPort: cfg.sipPort } : {}) } } : {}),
  });
  registrar = engine;
  if (hep) engine.onClose(() => hep.close());
  try {
    await engine.listen();
  } catch (err) {
    await hep?.close();
    throw err;
  }
  for (const r of cfg.sipRegister ?? []) {
    if (!sipHere) {
      logger.warn({ aor: r.aor }, '--sip-register needs SIP on the main thread (no --sip-workers): not registering');
      continue;
    }
    // Runs on its own: refreshes, retries with back-off, unregisters on shutdown.
    await engine.register(r);
  }
  if (cfg.hep && cfg.sipPort !== false) logger.info({ collector: `${cfg.hep.host}:${cfg.hep.port}` }, 'exporting SIP messages to HEP collector');
  if (cfg.sipAuth && cfg.sipPort !== false) {
    logger.info({ realm: cfg.sipAuth.realm, users: Object.keys(cfg.sipAuth.users).length }, 'inbound SIP calls require digest authentication');
  }
  if (cfg.sipPort !== false && sipWorkers > 0) {
    if (cfg.inspect) logger.warn('the statechart viewer shows this thread\'s actors only; SIP calls run in the worker threads');
    const workers = new SipWorkers({
      threads: sipWorkers,
      host: cfg.host,
      port: cfg.sipPort,
      rtpPorts: cfg.rtpPorts,
      logger,
      log: { format: cfg.logFormat ?? defaultLogFormat(), ...(cfg.sipTrace ? { sipTrace: true } : {}), ...(cfg.hep ? { hep: cfg.hep } : {}) },
      maxCalls: cfg.maxCalls,
      sip: { auth: cfg.sipAuth, maxPendingInvites: cfg.sipMaxPendingInvites, ...mediaSip, ...(cfg.sipTagSecretFile !== undefined ? { tagSecret: tagSecretOf(cfg.sipTagSecretFile) } : {}) },
      allow: cfg.sipAllow,
      rateLimits,
      // TCP/TLS: the router owns the connections and relays each message to its thread.
      ...(({ tcpPort, tlsPort, tls }) => ({ tcpPort, tlsPort, tls }))(sipStreamOptions(cfg)),
      app: {
        module: new URL(`./demo${path.extname(new URL(import.meta.url).pathname)}`, import.meta.url).href,
        export: 'demoApp',
        ...(cfg.streamUrl ? { options: { streamUrl: cfg.streamUrl } } : {}),
      },
    });
    workers.on('error', (err) => {
      logger.fatal({ err }, 'a SIP worker thread died; shutting down');
      void engine.close().then(() => process.exit(1));
    });
    try {
      await workers.start();
    } catch (err) {
      await engine.close();
      throw err;
    }
    engine.onClose(() => workers.close());
    engine.attachPeers({
      get liveCalls() {
        return workers.liveCalls;
      },
      drain: (on) => workers.drain(on),
      metrics: () => workers.metrics(),
      onCallsChanged: (fn) => workers.on('calls', fn),
    });
  }
  // The listen URL needs the bound port (wsPort may be 0), so the jambonz demo is added after listen.
  const publicWs = (cfg.publicWsUrl ?? `ws://${cfg.host === '0.0.0.0' ? '127.0.0.1' : cfg.host}:${engine.wsPort}`).replace(/\/+$/, '');
  const listenUrl = `${publicWs}/recording`;
  // With auth on, each listen gets its own short-lived signed URL: jambonz connects at once.
  const auth = engine.auth;
  demoJambonz(engine.jambonz, { listenUrl: auth ? () => auth.signUrl(listenUrl, { sub: 'demo-recorder', ttlSeconds: 300 }) : listenUrl });
  logger.info({ ws: `ws://${cfg.host}:${engine.wsPort}/` }, 'callchart ready (demo app)');
  return engine;
}

export async function main(argv: string[]): Promise<number | undefined> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help' || rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP);
    return cmd ? 0 : 1;
  }
  if (cmd === 'sign-url' || cmd === 'token') {
    try {
      process.stdout.write(`${mint(parseMintArgs(cmd, rest))}\n`);
      return 0;
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      process.stderr.write(`callchart: ${err.message}\n(see callchart --help)\n`);
      return 2;
    }
  }
  if (cmd === 'cluster') {
    const [sub, ...args] = rest;
    try {
      if (sub !== 'dispatcher-list') throw new UsageError(`unknown cluster command ${JSON.stringify(sub ?? '')} (try: cluster dispatcher-list)`);
      return await dispatcherListCommand(parseDispatcherListArgs(args));
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      process.stderr.write(`callchart: ${err.message}\n(see callchart --help)\n`);
      return 2;
    }
  }
  if (cmd !== 'serve') {
    const what = cmd.startsWith('-') ? `unknown option ${cmd}` : `unknown command ${JSON.stringify(cmd)}`;
    process.stderr.write(`callchart: ${what}\n(see callchart --help)\n`);
    return 2;
  }
  let cfg: ServeConfig;
  try {
    cfg = parseServeArgs(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`callchart: ${err.message}\n(see callchart --help)\n`);
      return 2;
    }
    throw err;
  }
  let engine: Engine;
  try {
    engine = await serve(cfg);
  } catch (err) {
    process.stderr.write(`callchart: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  // The server owns its process: a bug reached by some input is logged and counted, not fatal
  // (src/process-guard.ts says when it still exits).
  installProcessGuard(engine);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      engine.logger.info({ signal }, 'signal received');
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      void engine.close().then(resolve);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    // Rolling restart: refuse new calls, let live ones finish, exit 0 after the last (docs/operations.md).
    const onUsr1 = () => {
      engine.logger.info({ signal: 'SIGUSR1', liveCalls: engine.calls.size }, 'signal received: draining, exiting when idle');
      void engine.drain({ exitWhenIdle: true });
    };
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    process.on('SIGUSR1', onUsr1);
    engine.once('closed', () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      process.off('SIGUSR1', onUsr1);
      resolve();
    });
  });
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code ?? 0),
    (err) => {
      process.stderr.write(`callchart: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
