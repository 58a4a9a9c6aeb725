// `callchart serve`: the engine with the demo application. Flags override CALLCHART_* env vars,
// which override defaults. util.parseArgs (built into Node) is enough for this surface, so no CLI
// dependency is pulled in.
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { createEngine, type Engine } from './engine.js';
import { createLogger, LOG_LEVELS, type LogLevel } from './logger.js';
import { demoApp, demoJambonz } from './demo.js';
import path from 'node:path';
import { counterService } from './rooms/index.js';
import { createFileStore } from './playback/index.js';
import { SipWorkers } from './sip/workers.js';
import { STRICT_RTP_MODES, type StrictRtpMode } from './media/rtp-latch.js';
import os from 'node:os';

export const HELP = `callchart — actor-based call-control engine

Usage:
  callchart serve [options]     run the engine with the demo application
  callchart --help              show this help

Options (environment variable in brackets):
  --host <addr>          address to bind (default 0.0.0.0)            [CALLCHART_HOST]
  --ws-port <port>       WebSocket/HTTP port (default 4143)            [CALLCHART_WS_PORT]
  --sip-port <port>      SIP UDP port (default 5060, 0 = off)          [CALLCHART_SIP_PORT]
  --sip-workers <n>      serve SIP from n worker threads (or "auto":   [CALLCHART_SIP_WORKERS]
                         one per core); default 0 = on the main thread.
                         calls are sharded by Call-ID (README: "SIP
                         worker threads")
  --rtp-ports <a-b>      RTP port range (default 20000-29999)          [CALLCHART_RTP_PORTS]
  --strict-rtp <mode>    which source a call's RTP is taken from:      [CALLCHART_STRICT_RTP]
                         probation (default: the SDP address at once,
                         others, as behind NAT, after 4 packets in
                         sequence), strict (SDP address only), first
                         (first sender wins: RTP hijack, labs only)
  --log-level <level>    fatal|error|warn|info|debug|trace|silent      [CALLCHART_LOG_LEVEL]
                         (default info)
  --max-calls <n>        concurrent call limit (default 10000)         [CALLCHART_MAX_CALLS]
  --inspect [filter]     start the Stately inspector's local relay on  [CALLCHART_INSPECT]
                         port 8080 and watch actors; an optional filter
                         (actor kind such as "call", or a call-id prefix)
                         limits it to those actors
  --inspect-port <port>  inspector relay port (default 8080)
  --data-dir <dir>       where playback sessions persist and jambonz   [CALLCHART_DATA_DIR]
                         recordings are written (<dir>/recordings)
                         (default ./data)
  --public-ws-url <url>  how jambonz reaches this server, for the demo  [CALLCHART_PUBLIC_WS_URL]
                         IVR's listen verb (default ws://HOST:PORT)
  -h, --help             show this help

Demo application (inbound-call protocol on ws://HOST:4143/):
  connect -> ~1 s -> {"event":"incoming_call","sessionId":...}
          -> ~5 s -> {"event":"answer"}; binary frames are echoed back
          -> ~10 s -> {"event":"hangup"} and the socket closes
  client may send {"event":"dtmf","sessionId","digit"} and {"event":"hangup","sessionId"}
Also on the WebSocket port:
  ws://HOST:4143/rooms/<roomId>   shared counter room: send "increment"/"decrement"
  ws://HOST:4143/playback         MoosicBox-compatible playback sessions
  ws://HOST:4143/hook             jambonz call hook (ws.jambonz.org): greeting, one digit,
                                  1 records the caller through listen -> /recording
  ws://HOST:4143/recording        jambonz audio (audio.jambonz.org): one WAV per stream
                                  in <data-dir>/recordings
  GET /status, GET /rooms
SIP on udp/5060: calls are answered at once and hear their own audio (echo).
`;

export class UsageError extends Error {}

export interface ServeConfig {
  host: string;
  wsPort: number;
  sipPort: number;
  /** SIP worker threads; 0 (default) = SIP on the main thread. */
  sipWorkers?: number;
  rtpPorts: string;
  /** Strict RTP mode; absent = the engine default (probation). */
  strictRtp?: StrictRtpMode;
  logLevel: LogLevel;
  maxCalls: number;
  inspect: false | { filter?: string; port: number };
  dataDir: string;
  publicWsUrl?: string;
}

function port(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${name} must be a port number 0-65535, got ${JSON.stringify(v)}`);
  return n;
}

export function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ServeConfig {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        host: { type: 'string' },
        'ws-port': { type: 'string' },
        'sip-port': { type: 'string' },
        'sip-workers': { type: 'string' },
        'rtp-ports': { type: 'string' },
        'strict-rtp': { type: 'string' },
        'log-level': { type: 'string' },
        'max-calls': { type: 'string' },
        inspect: { type: 'boolean' },
        'inspect-port': { type: 'string' },
        'data-dir': { type: 'string' },
        'public-ws-url': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const v = parsed.values;
  const pick = (flag: string | undefined, envName: string, def: string) => flag ?? env[envName] ?? def;
  const rtpPorts = pick(v['rtp-ports'], 'CALLCHART_RTP_PORTS', '20000-29999');
  const m = /^(\d+)-(\d+)$/.exec(rtpPorts);
  if (!m || Number(m[1]) >= Number(m[2]) || Number(m[2]) > 65535 || Number(m[1]) < 1024) {
    throw new UsageError(`--rtp-ports must look like 20000-29999 (low < high, 1024-65535), got ${JSON.stringify(rtpPorts)}`);
  }
  const workersSpec = pick(v['sip-workers'], 'CALLCHART_SIP_WORKERS', '0');
  const sipWorkers = workersSpec === 'auto' ? os.availableParallelism() : Number(workersSpec);
  if (!Number.isInteger(sipWorkers) || sipWorkers < 0 || sipWorkers > 64) {
    throw new UsageError(`--sip-workers must be 0-64 or "auto", got ${JSON.stringify(workersSpec)}`);
  }
  const strictRtp = v['strict-rtp'] ?? env.CALLCHART_STRICT_RTP;
  if (strictRtp !== undefined && !STRICT_RTP_MODES.includes(strictRtp as StrictRtpMode)) {
    throw new UsageError(`--strict-rtp must be one of ${STRICT_RTP_MODES.join(', ')}, got ${JSON.stringify(strictRtp)}`);
  }
  // The worker threads do not take the option yet (SipWorkersOptions.sip): refuse rather than run weaker than asked.
  if (strictRtp !== undefined && sipWorkers > 0) throw new UsageError('--strict-rtp cannot be combined with --sip-workers yet');
  const logLevel = pick(v['log-level'], 'CALLCHART_LOG_LEVEL', 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const maxCalls = Number(pick(v['max-calls'], 'CALLCHART_MAX_CALLS', '10000'));
  if (!Number.isInteger(maxCalls) || maxCalls < 1) throw new UsageError('--max-calls must be a positive integer');
  // `--inspect call` : parseArgs treats the filter as a positional after `serve`.
  const positionals = parsed.positionals.filter((p) => p !== 'serve');
  const envInspect = env.CALLCHART_INSPECT;
  const inspectOn = v.inspect === true || (envInspect !== undefined && envInspect !== '' && envInspect !== '0' && envInspect !== 'false');
  const filter = positionals[0] ?? (envInspect && !['1', 'true'].includes(envInspect) ? envInspect : undefined);
  const publicWsUrl = v['public-ws-url'] ?? env.CALLCHART_PUBLIC_WS_URL;
  if (publicWsUrl !== undefined && !/^wss?:\/\/[^/\s]+/.test(publicWsUrl)) {
    throw new UsageError(`--public-ws-url must be a ws:// or wss:// URL, got ${JSON.stringify(publicWsUrl)}`);
  }
  return {
    ...(publicWsUrl ? { publicWsUrl } : {}),
    ...(strictRtp ? { strictRtp: strictRtp as StrictRtpMode } : {}),
    host: pick(v.host, 'CALLCHART_HOST', '0.0.0.0'),
    wsPort: port('--ws-port', pick(v['ws-port'], 'CALLCHART_WS_PORT', '4143')),
    sipPort: port('--sip-port', pick(v['sip-port'], 'CALLCHART_SIP_PORT', '5060')),
    sipWorkers,
    rtpPorts,
    logLevel,
    maxCalls,
    dataDir: pick(v['data-dir'], 'CALLCHART_DATA_DIR', 'data'),
    inspect: inspectOn ? { port: port('--inspect-port', v['inspect-port'] ?? '8080'), ...(filter ? { filter } : {}) } : false,
  };
}

export async function serve(cfg: ServeConfig): Promise<Engine> {
  const logger = createLogger(cfg.logLevel);
  // With SIP workers the main thread's engine serves the WebSocket protocols only; SIP calls and
  // their actors live in the workers (and so are not shown by this process's inspector).
  const sipWorkers = cfg.sipWorkers ?? 0;
  const sipHere = cfg.sipPort !== 0 && sipWorkers === 0;
  const engine = createEngine({
    host: cfg.host,
    wsPort: cfg.wsPort,
    sipPort: sipHere ? cfg.sipPort : false,
    rtpPorts: cfg.rtpPorts,
    maxCalls: cfg.maxCalls,
    ...(cfg.strictRtp ? { sip: { strictRtp: { mode: cfg.strictRtp } } } : {}),
    logger,
    inspect: cfg.inspect || false,
    onIncomingCall: demoApp(),
    rooms: { service: counterService },
    playback: { store: createFileStore({ dir: cfg.dataDir }) },
    jambonz: { recordingsDir: path.join(cfg.dataDir, 'recordings') },
  });
  await engine.listen();
  if (cfg.sipPort !== 0 && sipWorkers > 0) {
    if (cfg.inspect) logger.warn('the inspector shows this thread\'s actors only; SIP calls run in the worker threads');
    const workers = new SipWorkers({
      threads: sipWorkers,
      host: cfg.host,
      port: cfg.sipPort,
      rtpPorts: cfg.rtpPorts,
      logger,
      maxCalls: cfg.maxCalls,
      app: { module: new URL(`./demo${path.extname(new URL(import.meta.url).pathname)}`, import.meta.url).href, export: 'demoApp' },
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
  }
  // The listen URL needs the bound port (wsPort may be 0), so the jambonz demo is added after listen.
  const publicWs = (cfg.publicWsUrl ?? `ws://${cfg.host === '0.0.0.0' ? '127.0.0.1' : cfg.host}:${engine.wsPort}`).replace(/\/+$/, '');
  demoJambonz(engine.jambonz, { listenUrl: `${publicWs}/recording` });
  logger.info({ ws: `ws://${cfg.host}:${engine.wsPort}/` }, 'callchart ready (demo app)');
  return engine;
}

export async function main(argv: string[]): Promise<number | undefined> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help' || rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP);
    return cmd ? 0 : 1;
  }
  if (cmd !== 'serve') {
    process.stderr.write(`callchart: unknown command ${JSON.stringify(cmd)}\n\n${HELP}`);
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
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      engine.logger.info({ signal }, 'signal received');
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      void engine.close().then(resolve);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
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
