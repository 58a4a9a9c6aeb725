// `callchart serve`'s flags and CALLCHART_* variables, parsed and checked into a ServeConfig;
// util.parseArgs (built into Node) is enough for this surface, so no CLI dependency is pulled in.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LOG_LEVELS, type LogLevel } from './logger.js';
import { LOG_FORMATS, type LogFormat } from './logging/format.js';
import { parseHepTarget } from './logging/hep-exporter.js';
import path from 'node:path';
import { parseAllowList } from './sip/transport/admission.js';
import { parseUri } from './sip/codec/uri.js';
import type { RegisterOptions } from './sip/registrar/client.js';
import { NAT_SOURCES, STRICT_RTP_MODES, type NatSources, type RtpLatchOptions, type StrictRtpMode } from './media/rtp/latch.js';
import { SRTP_MODES, type SrtpMode } from './sip/codec/sdp.js';
import os from 'node:os';
import { mintToken, signUrl } from './http/auth.js';
import type { HttpSecurityOptions } from './http/server.js';
import type { ServeClusterConfig } from './cluster/cli.js';
import { parseCluster } from './cluster/cli.js';
import { DEFAULT_INSPECT_HOST, DEFAULT_INSPECT_PORT, inspectAccessProblem } from './inspect/index.js';

export class UsageError extends Error {}

/**
 * parseArgs' own messages ("Unknown option '--x'. To specify a positional argument starting with
 * a '-', place it at the end of the command after '--', …") are written for script authors; a
 * person at the CLI needs the flag named and a pointer to the help.
 */
export function argsError(err: unknown, command: string): UsageError {
  const e = err as { code?: string; message?: string };
  const flag = /'(-[^']*)'/.exec(e.message ?? '')?.[1];
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag) return new UsageError(`unknown option ${flag} for "${command}"`);
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag) {
    const name = flag.split(/[ ,]/)[0]!;
    const m = e.message ?? '';
    if (/argument missing/.test(m)) return new UsageError(`${name} needs a value`);
    if (/does not take an argument/.test(m)) return new UsageError(`${name} takes no value`);
    if (/ambiguous/.test(m)) return new UsageError(`${name} needs a value (one starting with "-" is written ${name}=-…)`);
  }
  return new UsageError(e.message ?? String(err));
}

/** This package's version, from the package.json above this file (src/ or dist/src/). */
export function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'callchart' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      /* not here: look one level up */
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}

export interface ServeConfig {
  host: string;
  wsPort: number;
  /** SIP UDP port (0 = ephemeral) or false: no SIP. */
  sipPort: number | false;
  /** SIP worker threads; 0 (default) = SIP on the main thread. */
  sipWorkers?: number;
  /** Sources allowed to send SIP (CIDR or address); unset = everyone. */
  sipAllow?: string[];
  /** New INVITEs/s per source (burst twice that); false = no INVITE limit; unset = the default. */
  sipInviteRate?: number | false;
  rtpPorts: string;
  /** Strict RTP mode; absent = the engine default (probation). */
  strictRtp?: StrictRtpMode;
  /** Hosts a NAT media source may send from; absent = the engine default (signalling). */
  strictRtpNat?: NatSources;
  /** SRTP (SDES) mode; absent = off. */
  srtp?: SrtpMode;
  logLevel: LogLevel;
  /** Absent: pretty when stdout is a terminal, JSON otherwise. */
  logFormat?: LogFormat;
  /** --sip-trace: a log line for every SIP message sent and received. */
  sipTrace?: boolean;
  /** --hep: export every SIP message to this HEP v3 collector. */
  hep?: { host: string; port: number; captureId?: number };
  maxCalls: number;
  inspect: false | { filter?: string; port: number; host: string; token?: string; stately?: boolean };
  dataDir: string;
  publicWsUrl?: string;
  /** WebSocket/HTTP port hardening and auth; absent = engine defaults, auth off. */
  security?: HttpSecurityOptions;
  /** Digest authentication of inbound SIP INVITEs (--sip-users); absent = none. */
  sipAuth?: { realm: string; users: Record<string, string> };
  /** Outbound registrations (--sip-register); absent = none. */
  sipRegister?: RegisterOptions[];
  /** Cap on pending inbound INVITEs (--sip-max-pending); absent = the engine's default. */
  sipMaxPendingInvites?: number;
  /** Session-Expires asked for in our INVITEs and 2xx (--sip-session-expires, s); absent = none asked. */
  sipSessionExpires?: number;
  /** Reliable provisional responses (--sip-100rel off|supported|required); absent = 'supported'. */
  sip100rel?: 'off' | 'supported' | 'required';
  /** false: no SDP answer in an unreliable 183 to a caller without 100rel (--no-sip-unreliable-early-media); absent = on. */
  sipUnreliableEarlyMedia?: false;
  /** A separate /metrics + /health listener (--metrics-port); absent = none. */
  metricsPort?: number;
  /** Bearer token of POST /admin/drain (--admin-token); absent = no admin routes. */
  adminToken?: string;
  /** false: no /metrics at all (--metrics off); absent = on. */
  metrics?: false;
  /** SIP over TCP on this port (--sip-tcp-port); absent = no TCP. */
  sipTcpPort?: number;
  /** SIP over TLS on this port (--sip-tls-port) with the PEM files tlsCert/tlsKey; absent = no TLS. */
  sipTlsPort?: number;
  tlsCert?: string;
  tlsKey?: string;
  /** File whose bytes sign our INVITEs' From tags (--sip-tag-secret-file): kept across restarts. */
  sipTagSecretFile?: string;
  /** --stream-url: stream every SIP call to this voice bot (Twilio Media Streams) instead of echoing it. */
  streamUrl?: string;
  /** Be the jambonz feature-server for inbound SIP calls, against this app URL (--jambonz-app). */
  jambonzApp?: string;
  /** The `say` verb's TTS command, split into arguments (--jambonz-tts). */
  jambonzTts?: string[];
  /** SIP host[:port] that the dial verb's phone targets go to (--jambonz-phone-trunk). */
  jambonzPhoneTrunk?: string;
  /** --cluster and friends; absent = a standalone node. */
  cluster?: ServeClusterConfig;
}

/**
 * `alice:secret,bob:pa:ss` → { alice: 'secret', bob: 'pa:ss' }: the user name ends at the first
 * colon, so passwords may hold colons but not commas. Names and passwords are non-empty, without
 * control characters; names also without quotes, backslashes or spaces (they are quoted in
 * Authorization headers). A name given twice is an error.
 */
export function parseSipUsers(spec: string): Record<string, string> {
  const entries: Array<[string, string]> = [];
  for (const item of spec.split(',')) {
    const colon = item.indexOf(':');
    const user = colon < 0 ? item : item.slice(0, colon);
    const password = colon < 0 ? '' : item.slice(colon + 1);
    if (!user || !password) throw new UsageError(`--sip-users entries look like user:password, got ${JSON.stringify(item)}`);
    if (/[\s"\\\x00-\x1f\x7f]/.test(user)) throw new UsageError(`--sip-users: user name ${JSON.stringify(user)} may not hold spaces, quotes, backslashes or control characters`);
    if (/[\x00-\x1f\x7f]/.test(password)) throw new UsageError(`--sip-users: the password of ${JSON.stringify(user)} holds a control character`);
    if (entries.some(([u]) => u === user)) throw new UsageError(`--sip-users: user ${JSON.stringify(user)} is given twice`);
    entries.push([user, password]);
  }
  // fromEntries defines own properties, so even a user called __proto__ is just a user.
  return Object.fromEntries(entries);
}

/**
 * `sip:alice:secret@pbx.example.com:5060` → register sip:alice@pbx.example.com at
 * sip:pbx.example.com:5060 as alice/secret.
 */
export function parseSipRegister(spec: string): RegisterOptions {
  const uri = parseUri(spec.trim());
  if (uri?.kind !== 'sip' || !uri.user || uri.password === undefined) {
    throw new UsageError(`--sip-register takes sip:user:password@host[:port], got ${JSON.stringify(spec.replace(/:[^:@]*@/, ':…@'))}`);
  }
  const host = uri.host.includes(':') ? `[${uri.host}]` : uri.host;
  return { registrar: `sip:${host}${uri.port ? `:${uri.port}` : ''}`, aor: `sip:${uri.user}@${host}`, username: uri.user, password: uri.password };
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
        'no-sip': { type: 'boolean' },
        'sip-workers': { type: 'string' },
        'sip-allow': { type: 'string' },
        'sip-invite-rate': { type: 'string' },
        'rtp-ports': { type: 'string' },
        'strict-rtp': { type: 'string' },
        'strict-rtp-nat': { type: 'string' },
        srtp: { type: 'string' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
        'sip-trace': { type: 'boolean' },
        hep: { type: 'string' },
        'hep-id': { type: 'string' },
        'max-calls': { type: 'string' },
        inspect: { type: 'boolean' },
        'inspect-port': { type: 'string' },
        'inspect-host': { type: 'string' },
        'inspect-token': { type: 'string' },
        'inspect-stately': { type: 'boolean' },
        'data-dir': { type: 'string' },
        'public-ws-url': { type: 'string' },
        'auth-secret': { type: 'string' },
        'auth-user': { type: 'string', multiple: true },
        'ws-max-connections': { type: 'string' },
        'ws-max-connections-per-ip': { type: 'string' },
        'ws-handshake-timeout': { type: 'string' },
        'ws-allowed-origins': { type: 'string' },
        'sip-users': { type: 'string' },
        'sip-realm': { type: 'string' },
        'sip-register': { type: 'string', multiple: true },
        'sip-max-pending': { type: 'string' },
        'sip-session-expires': { type: 'string' },
        'sip-100rel': { type: 'string' },
        'no-sip-unreliable-early-media': { type: 'boolean' },
        'sip-tcp-port': { type: 'string' },
        'sip-tls-port': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'sip-tag-secret-file': { type: 'string' },
        'metrics-port': { type: 'string' },
        'admin-token': { type: 'string' },
        metrics: { type: 'string' },
        'stream-url': { type: 'string' },
        'jambonz-app': { type: 'string' },
        'jambonz-tts': { type: 'string' },
        'jambonz-phone-trunk': { type: 'string' },
        cluster: { type: 'string' },
        'node-id': { type: 'string' },
        'advertise-host': { type: 'string' },
        'cluster-prefix': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw argsError(err, 'serve');
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
  const allowSpec = v['sip-allow'] ?? env.CALLCHART_SIP_ALLOW;
  const sipAllow = allowSpec === undefined ? undefined : allowSpec.split(',').map((a) => a.trim()).filter((a) => a !== '');
  if (sipAllow) {
    if (sipAllow.length === 0) throw new UsageError('--sip-allow needs at least one address or CIDR block');
    try {
      parseAllowList(sipAllow);
    } catch (err) {
      throw new UsageError(`--sip-allow: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const streams = sipStreamsOf(v, env);
  const rateSpec = v['sip-invite-rate'] ?? env.CALLCHART_SIP_INVITE_RATE;
  const sipInviteRate = rateSpec === undefined ? undefined : rateSpec === 'off' ? false : Number(rateSpec);
  if (typeof sipInviteRate === 'number' && !(Number.isFinite(sipInviteRate) && sipInviteRate > 0)) {
    throw new UsageError(`--sip-invite-rate must be a positive number or "off", got ${JSON.stringify(rateSpec)}`);
  }
  const strictRtp = v['strict-rtp'] ?? env.CALLCHART_STRICT_RTP;
  if (strictRtp !== undefined && !STRICT_RTP_MODES.includes(strictRtp as StrictRtpMode)) {
    throw new UsageError(`--strict-rtp must be one of ${STRICT_RTP_MODES.join(', ')}, got ${JSON.stringify(strictRtp)}`);
  }
  const strictRtpNat = v['strict-rtp-nat'] ?? env.CALLCHART_STRICT_RTP_NAT;
  if (strictRtpNat !== undefined && !NAT_SOURCES.includes(strictRtpNat as NatSources)) {
    throw new UsageError(`--strict-rtp-nat must be one of ${NAT_SOURCES.join(', ')}, got ${JSON.stringify(strictRtpNat)}`);
  }
  const srtp = v.srtp ?? (env.CALLCHART_SRTP || undefined);
  if (srtp !== undefined && !SRTP_MODES.includes(srtp as SrtpMode)) {
    throw new UsageError(`--srtp must be one of ${SRTP_MODES.join(', ')}, got ${JSON.stringify(srtp)}`);
  }
  const logLevel = pick(v['log-level'], 'CALLCHART_LOG_LEVEL', 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const logFormat = (v['log-format'] ?? (env.CALLCHART_LOG_FORMAT || undefined)) as LogFormat | undefined;
  if (logFormat !== undefined && !LOG_FORMATS.includes(logFormat)) throw new UsageError(`--log-format must be one of ${LOG_FORMATS.join(', ')}, got ${JSON.stringify(logFormat)}`);
  const sipTrace = v['sip-trace'] === true || ['1', 'true'].includes(env.CALLCHART_SIP_TRACE ?? '');
  const hepSpec = v.hep ?? (env.CALLCHART_HEP || undefined);
  let hep: ServeConfig['hep'];
  if (hepSpec !== undefined) {
    try {
      hep = parseHepTarget(hepSpec);
    } catch (err) {
      throw new UsageError(`--hep: ${err instanceof Error ? err.message : String(err)}`);
    }
    const idSpec = v['hep-id'] ?? (env.CALLCHART_HEP_ID || undefined);
    if (idSpec !== undefined) {
      const captureId = Number(idSpec);
      if (!Number.isInteger(captureId) || captureId < 0 || captureId > 0xffffffff) throw new UsageError(`--hep-id must be an integer 0-4294967295, got ${JSON.stringify(idSpec)}`);
      hep.captureId = captureId;
    }
  } else if (v['hep-id'] !== undefined) {
    throw new UsageError('--hep-id needs --hep <host:port>');
  }
  const maxCalls = Number(pick(v['max-calls'], 'CALLCHART_MAX_CALLS', '10000'));
  if (!Number.isInteger(maxCalls) || maxCalls < 1) throw new UsageError('--max-calls must be a positive integer');
  // `--inspect call` : parseArgs treats the filter as a positional after `serve`.
  const positionals = parsed.positionals.filter((p) => p !== 'serve');
  const envInspect = env.CALLCHART_INSPECT;
  const inspectOn = v.inspect === true || (envInspect !== undefined && envInspect !== '' && envInspect !== '0' && envInspect !== 'false');
  const filter = positionals[0] ?? (envInspect && !['1', 'true'].includes(envInspect) ? envInspect : undefined);
  let inspect: ServeConfig['inspect'] = false;
  if (inspectOn) {
    const host = pick(v['inspect-host'], 'CALLCHART_INSPECT_HOST', DEFAULT_INSPECT_HOST);
    const token = v['inspect-token'] ?? (env.CALLCHART_INSPECT_TOKEN || undefined);
    const problem = inspectAccessProblem(host, token);
    if (problem) throw new UsageError(problem);
    const stately = v['inspect-stately'] === true || ['1', 'true'].includes(env.CALLCHART_INSPECT_STATELY ?? '');
    inspect = {
      port: port('--inspect-port', pick(v['inspect-port'], 'CALLCHART_INSPECT_PORT', String(DEFAULT_INSPECT_PORT))),
      host,
      ...(filter ? { filter } : {}),
      ...(token !== undefined ? { token } : {}),
      ...(stately ? { stately } : {}),
    };
  }
  const publicWsUrl = v['public-ws-url'] ?? env.CALLCHART_PUBLIC_WS_URL;
  if (publicWsUrl !== undefined && !/^wss?:\/\/[^/\s]+/.test(publicWsUrl)) {
    throw new UsageError(`--public-ws-url must be a ws:// or wss:// URL, got ${JSON.stringify(publicWsUrl)}`);
  }
  const security = parseSecurity(v, env);
  const host = pick(v.host, 'CALLCHART_HOST', '0.0.0.0');
  const usersSpec = v['sip-users'] ?? env.CALLCHART_SIP_USERS;
  const realm = v['sip-realm'] ?? env.CALLCHART_SIP_REALM ?? (host === '0.0.0.0' || host === '::' ? os.hostname() : host);
  if (!realm || /["\\\x00-\x1f\x7f]/.test(realm)) throw new UsageError(`--sip-realm may not be empty or hold quotes, backslashes or control characters, got ${JSON.stringify(realm)}`);
  const sipAuth = usersSpec ? { realm, users: parseSipUsers(usersSpec) } : undefined;
  const registerSpecs = (v['sip-register'] as string[] | undefined) ?? env.CALLCHART_SIP_REGISTER?.split(',').filter(Boolean) ?? [];
  const sipRegister = registerSpecs.map(parseSipRegister);
  const pendingSpec = v['sip-max-pending'] ?? env.CALLCHART_SIP_MAX_PENDING;
  const sipMaxPendingInvites = pendingSpec === undefined ? undefined : Number(pendingSpec);
  if (sipMaxPendingInvites !== undefined && (!Number.isInteger(sipMaxPendingInvites) || sipMaxPendingInvites < 1)) {
    throw new UsageError(`--sip-max-pending must be a positive integer, got ${JSON.stringify(pendingSpec)}`);
  }
  const relSpec = v['sip-100rel'] ?? (env.CALLCHART_SIP_100REL || undefined);
  if (relSpec !== undefined && relSpec !== 'off' && relSpec !== 'supported' && relSpec !== 'required') {
    throw new UsageError(`--sip-100rel must be off, supported or required, got ${JSON.stringify(relSpec)}`);
  }
  const sip100rel = relSpec;
  // The flag only turns it off; the variable says on or off (like --metrics).
  const earlySpec = env.CALLCHART_SIP_UNRELIABLE_EARLY_MEDIA || undefined;
  if (earlySpec !== undefined && earlySpec !== 'on' && earlySpec !== 'off') {
    throw new UsageError(`CALLCHART_SIP_UNRELIABLE_EARLY_MEDIA must be on or off, got ${JSON.stringify(earlySpec)}`);
  }
  const sipUnreliableEarlyMedia = v['no-sip-unreliable-early-media'] === true || earlySpec === 'off' ? (false as const) : undefined;
  const seSpec = v['sip-session-expires'] ?? (env.CALLCHART_SIP_SESSION_EXPIRES || undefined);
  const sipSessionExpires = seSpec === undefined ? undefined : Number(seSpec);
  if (sipSessionExpires !== undefined && (!Number.isInteger(sipSessionExpires) || sipSessionExpires < 90)) {
    throw new UsageError(`--sip-session-expires must be a whole number of seconds ≥ 90 (RFC 4028), got ${JSON.stringify(seSpec)}`);
  }
  const metricsPortSpec = v['metrics-port'] ?? (env.CALLCHART_METRICS_PORT || undefined);
  const adminToken = v['admin-token'] ?? (env.CALLCHART_ADMIN_TOKEN || undefined);
  if (adminToken !== undefined && adminToken.length < 16) throw new UsageError('--admin-token must be at least 16 characters');
  const metricsSpec = v.metrics ?? (env.CALLCHART_METRICS || 'on');
  if (metricsSpec !== 'on' && metricsSpec !== 'off') throw new UsageError(`--metrics must be on or off, got ${JSON.stringify(metricsSpec)}`);
  const streamUrl = v['stream-url'] ?? (env.CALLCHART_STREAM_URL || undefined);
  if (streamUrl !== undefined && !/^wss?:\/\/[^/\s]+/.test(streamUrl)) throw new UsageError(`--stream-url must be a ws:// or wss:// URL, got ${JSON.stringify(streamUrl)}`);
  const jambonzApp = v['jambonz-app'] ?? (env.CALLCHART_JAMBONZ_APP || undefined);
  if (jambonzApp !== undefined && !/^wss?:\/\/[^\s]+$/i.test(jambonzApp)) throw new UsageError(`--jambonz-app must be a ws:// or wss:// URL, got ${JSON.stringify(jambonzApp)}`);
  if (jambonzApp !== undefined && sipWorkers > 0) throw new UsageError('--jambonz-app runs SIP calls on the main thread: it cannot be combined with --sip-workers');
  const ttsSpec = v['jambonz-tts'] ?? (env.CALLCHART_JAMBONZ_TTS || undefined);
  const jambonzTts = ttsSpec?.split(/\s+/).filter(Boolean);
  if (jambonzTts && !jambonzTts.some((a) => a.includes('{file}'))) throw new UsageError('--jambonz-tts is a command that writes {file}, e.g. "espeak-ng -w {file} {text}"');
  const jambonzPhoneTrunk = v['jambonz-phone-trunk'] ?? (env.CALLCHART_JAMBONZ_PHONE_TRUNK || undefined);
  if (jambonzPhoneTrunk !== undefined && !/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(jambonzPhoneTrunk)) {
    throw new UsageError(`--jambonz-phone-trunk must be host[:port], got ${JSON.stringify(jambonzPhoneTrunk)}`);
  }
  const sipTagSecretFile = v['sip-tag-secret-file'] ?? (env.CALLCHART_SIP_TAG_SECRET_FILE || undefined);
  const cluster = parseCluster(v, env);
  return {
    ...(sipTagSecretFile !== undefined ? { sipTagSecretFile } : {}),
    ...(cluster ? { cluster } : {}),
    ...(streamUrl ? { streamUrl } : {}),
    ...(jambonzApp ? { jambonzApp } : {}),
    ...(jambonzTts?.length ? { jambonzTts } : {}),
    ...(jambonzPhoneTrunk ? { jambonzPhoneTrunk } : {}),
    ...(publicWsUrl ? { publicWsUrl } : {}),
    ...(security ? { security } : {}),
    ...(sipAuth ? { sipAuth } : {}),
    ...(sipRegister.length ? { sipRegister } : {}),
    ...(sipMaxPendingInvites !== undefined ? { sipMaxPendingInvites } : {}),
    ...(sipSessionExpires !== undefined ? { sipSessionExpires } : {}),
    ...(sip100rel !== undefined ? { sip100rel } : {}),
    ...(sipUnreliableEarlyMedia === false ? { sipUnreliableEarlyMedia } : {}),
    ...(metricsPortSpec !== undefined ? { metricsPort: port('--metrics-port', metricsPortSpec) } : {}),
    ...(adminToken ? { adminToken } : {}),
    ...(metricsSpec === 'off' ? { metrics: false as const } : {}),
    ...(sipAllow ? { sipAllow } : {}),
    ...streams,
    ...(sipInviteRate !== undefined ? { sipInviteRate } : {}),
    ...(strictRtp ? { strictRtp: strictRtp as StrictRtpMode } : {}),
    ...(strictRtpNat ? { strictRtpNat: strictRtpNat as NatSources } : {}),
    ...(srtp ? { srtp: srtp as SrtpMode } : {}),
    ...(sipTrace ? { sipTrace } : {}),
    ...(hep ? { hep } : {}),
    host,
    wsPort: port('--ws-port', pick(v['ws-port'], 'CALLCHART_WS_PORT', '4143')),
    sipPort: sipPortOf(v['no-sip'] === true, v['sip-port'], env.CALLCHART_SIP_PORT),
    sipWorkers,
    rtpPorts,
    logLevel,
    ...(logFormat ? { logFormat } : {}),
    maxCalls,
    dataDir: pick(v['data-dir'], 'CALLCHART_DATA_DIR', 'data'),
    inspect,
  };
}

/** --sip-tcp-port, --sip-tls-port (which needs --tls-cert and --tls-key) and their env vars. */
function sipStreamsOf(v: Record<string, unknown>, env: NodeJS.ProcessEnv): Pick<ServeConfig, 'sipTcpPort' | 'sipTlsPort' | 'tlsCert' | 'tlsKey'> {
  const str = (flag: string, envName: string) => (typeof v[flag] === 'string' ? (v[flag] as string) : env[envName]);
  const tcp = str('sip-tcp-port', 'CALLCHART_SIP_TCP_PORT');
  const tls = str('sip-tls-port', 'CALLCHART_SIP_TLS_PORT');
  const tlsCert = str('tls-cert', 'CALLCHART_TLS_CERT');
  const tlsKey = str('tls-key', 'CALLCHART_TLS_KEY');
  if (tls !== undefined && (!tlsCert || !tlsKey)) throw new UsageError('--sip-tls-port needs --tls-cert and --tls-key (PEM files)');
  return {
    ...(tcp !== undefined ? { sipTcpPort: port('--sip-tcp-port', tcp) } : {}),
    ...(tls !== undefined ? { sipTlsPort: port('--sip-tls-port', tls), tlsCert, tlsKey } : {}),
  };
}

/** `--sip-port`: a port (0 = ephemeral, as everywhere) or `off`; `--no-sip` wins. */
function sipPortOf(noSip: boolean, flag: string | undefined, envValue: string | undefined): number | false {
  if (noSip) return false;
  const spec = flag ?? envValue ?? '5060';
  return spec === 'off' ? false : port('--sip-port', spec);
}

function count(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

/** The WS port's security flags; undefined when none is given (the engine's defaults apply). */
function parseSecurity(v: Record<string, string | boolean | string[] | undefined>, env: NodeJS.ProcessEnv): HttpSecurityOptions | undefined {
  const str = (flag: string, envName: string) => (v[flag] as string | undefined) ?? (env[envName] || undefined);
  const sec: HttpSecurityOptions = {};
  const maxConnections = count('--ws-max-connections', str('ws-max-connections', 'CALLCHART_WS_MAX_CONNECTIONS'), 0);
  const maxConnectionsPerIp = count('--ws-max-connections-per-ip', str('ws-max-connections-per-ip', 'CALLCHART_WS_MAX_CONNECTIONS_PER_IP'), 0);
  const handshakeTimeoutMs = count('--ws-handshake-timeout', str('ws-handshake-timeout', 'CALLCHART_WS_HANDSHAKE_TIMEOUT'), 1);
  if (maxConnections !== undefined) sec.maxConnections = maxConnections;
  if (maxConnectionsPerIp !== undefined) sec.maxConnectionsPerIp = maxConnectionsPerIp;
  if (handshakeTimeoutMs !== undefined) sec.handshakeTimeoutMs = handshakeTimeoutMs;
  const origins = str('ws-allowed-origins', 'CALLCHART_WS_ALLOWED_ORIGINS');
  if (origins !== undefined) {
    const list = origins.split(',').map((o) => o.trim()).filter(Boolean);
    for (const o of list) if (!/^https?:\/\/[^/\s]+$/.test(o)) throw new UsageError(`--ws-allowed-origins takes origins such as https://app.example.com, got ${JSON.stringify(o)}`);
    sec.allowedOrigins = list;
  }
  const secret = str('auth-secret', 'CALLCHART_AUTH_SECRET');
  const userSpecs = (v['auth-user'] as string[] | undefined) ?? env.CALLCHART_AUTH_USERS?.split(',').filter(Boolean) ?? [];
  if (userSpecs.length && secret === undefined) throw new UsageError('--auth-user needs --auth-secret (or CALLCHART_AUTH_SECRET): it turns authentication on');
  if (secret !== undefined) {
    if (secret.length < 16) throw new UsageError('--auth-secret must be at least 16 characters');
    const users: Record<string, string> = {};
    for (const spec of userSpecs) {
      const i = spec.indexOf(':');
      if (i <= 0 || i === spec.length - 1) throw new UsageError(`--auth-user takes user:password, got ${JSON.stringify(spec.replace(/:.*/, ':…'))}`);
      users[spec.slice(0, i)] = spec.slice(i + 1);
    }
    sec.auth = { secret, ...(userSpecs.length ? { users } : {}) };
  }
  return Object.keys(sec).length ? sec : undefined;
}

export interface MintArgs {
  kind: 'sign-url' | 'token';
  secret: string;
  url?: string;
  sub: string;
  ttlSeconds?: number;
  scope?: string;
}

/** `callchart sign-url <url> --sub …` / `callchart token --sub …`. */
export function parseMintArgs(kind: 'sign-url' | 'token', argv: string[], env: NodeJS.ProcessEnv = process.env): MintArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { sub: { type: 'string' }, ttl: { type: 'string' }, scope: { type: 'string' }, 'auth-secret': { type: 'string' } },
    });
  } catch (err) {
    throw argsError(err, kind);
  }
  const v = parsed.values;
  const secret = v['auth-secret'] ?? env.CALLCHART_AUTH_SECRET;
  if (!secret) throw new UsageError(`${kind} needs the server's secret: --auth-secret or CALLCHART_AUTH_SECRET`);
  if (!v.sub) throw new UsageError(`${kind} needs --sub <principal>`);
  const url = parsed.positionals[0];
  if (kind === 'sign-url' && (!url || parsed.positionals.length > 1)) throw new UsageError('sign-url takes one URL (ws://host:port/path or /path)');
  if (kind === 'token' && parsed.positionals.length) throw new UsageError('token takes no positional arguments');
  const ttlSeconds = count('--ttl', v.ttl, 1);
  return { kind, secret, sub: v.sub, ...(url ? { url } : {}), ...(ttlSeconds !== undefined ? { ttlSeconds } : {}), ...(v.scope ? { scope: v.scope } : {}) };
}

export function mint(a: MintArgs): string {
  const o = { sub: a.sub, ...(a.ttlSeconds !== undefined ? { ttlSeconds: a.ttlSeconds } : {}), ...(a.scope ? { scope: a.scope } : {}) };
  try {
    return a.kind === 'token' ? mintToken(a.secret, o) : signUrl(a.secret, a.url!, o);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** The engine's (and every SIP worker's) `sip.strictRtp` from the flags; undefined = the defaults. */
export function strictRtpOptions(cfg: Pick<ServeConfig, 'strictRtp' | 'strictRtpNat'>): RtpLatchOptions | undefined {
  if (!cfg.strictRtp && !cfg.strictRtpNat) return undefined;
  return { ...(cfg.strictRtp ? { mode: cfg.strictRtp } : {}), ...(cfg.strictRtpNat ? { natSources: cfg.strictRtpNat } : {}) };
}
