// Run baresip (v1.0.x) headless as a test peer. Each instance gets its own config directory with
// loopback-only SIP (UDP; baresip also opens TCP on the SIP port and TLS on SIP port + 1), no sound
// card (audio out goes to an `aubridge` device nobody reads; audio in is `ausine` or `aufile`), and
// is driven over `ctrl_tcp`: netstring-framed JSON commands ({command, params, token}) answered by
// {response, ok, data, token}, plus unsolicited {event: true, type: 'CALL_…', …} events.
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, mkdirSync, readdirSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LOOPBACK, Tail, exited, freePortBlock, freeTcpPort, requireBinary, sleep, terminate, track, udpPortBound, waitUntil } from './procs.js';

export const BARESIP_MODULE_PATH = '/usr/lib/baresip/modules';

export interface BaresipOptions {
  /** Answer incoming calls at once (account answermode=auto). Default true. */
  autoAnswer?: boolean;
  /** User part of the account AOR (default `bob`): <sip:bob@127.0.0.1>. */
  user?: string;
  /** Send this WAV file as the call's audio (aufile source; 8 kHz mono 16-bit is safest). */
  playFile?: string;
  /** Send a sine tone of this frequency (ausine source; the default source, 440 Hz). */
  sineHz?: number;
  /** Directory to record what baresip sent (`dump-*-enc.wav`) and heard (`dump-*-dec.wav`). */
  recordTo?: string;
  /** Audio codecs offered, in order (default PCMU, PCMA). */
  codecs?: string[];
  /** Media encryption of the account (`srtp` best effort, `srtp-mand` RTP/SAVP): loads srtp.so. */
  mediaenc?: 'srtp' | 'srtp-mand';
  /** Register the account (digest auth) to a registrar on loopback at this port. */
  register?: { port: number; password: string };
  /**
   * SIP over TLS for the account (its registrar and outbound proxy: `;transport=tls`): `cafile`
   * is the PEM baresip trusts for the server, `certificate` (cert + key in one PEM) its own TLS
   * listener's identity, needed for requests that reach it over a new TLS connection.
   */
  tls?: { cafile: string; certificate?: string };
  /** Hard bound for the process lifetime (default 120 s); it is SIGKILLed after that. */
  timeoutMs?: number;
}

export interface BaresipEvent {
  type: string;
  class?: string;
  direction?: string;
  peeruri?: string;
  id?: string;
  param?: string;
  accountaor?: string;
  [k: string]: unknown;
}

export interface BaresipResponse {
  ok: boolean;
  data: string;
}

export interface Baresip {
  sipPort: number;
  ctrlPort: number;
  /** AOR of the account, e.g. sip:bob@127.0.0.1 — dial `sip:bob@127.0.0.1:<sipPort>`. */
  aor: string;
  uri: string;
  configDir: string;
  pid: number;
  /** Every event received so far, in order. */
  readonly events: BaresipEvent[];
  /** Resolve with the first event (already received or future) matching `pred`. */
  waitFor(pred: (e: BaresipEvent) => boolean, timeoutMs?: number, what?: string): Promise<BaresipEvent>;
  /** Run a ctrl_tcp command (e.g. `dial`, `hangup`, `accept`) and await its response. */
  command(command: string, params?: string, timeoutMs?: number): Promise<BaresipResponse>;
  dial(uri: string): Promise<BaresipResponse>;
  hangup(): Promise<BaresipResponse>;
  accept(): Promise<BaresipResponse>;
  /** WAV files sndfile wrote (when recordTo), newest last. */
  recordings(): { encoded: string[]; decoded: string[] };
  /** stdout/stderr tail (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

export function requireBaresip(): string {
  return requireBinary('baresip', 'baresip-core');
}

function writeConfig(dir: string, o: Required<Pick<BaresipOptions, 'user'>> & BaresipOptions, sipPort: number, ctrlPort: number, rtpLo: number): void {
  const source = o.playFile ? `aufile,${o.playFile}` : `ausine,${o.sineHz ?? 440}`;
  const lines = [
    ['poll_method', 'epoll'],
    ['sip_listen', `${LOOPBACK}:${sipPort}`],
    ['net_interface', LOOPBACK], // SDP c= and Contact on loopback, not the default interface
    ...(o.tls ? [['sip_cafile', o.tls.cafile], ...(o.tls.certificate ? [['sip_certificate', o.tls.certificate]] : [])] : []),
    ['call_local_timeout', '120'],
    ['call_max_calls', '4'],
    ['audio_player', 'aubridge,callchart-null'],
    ['audio_alert', 'aubridge,callchart-null'],
    ['audio_source', source],
    // ausine only produces 48 kHz stereo; baresip resamples to the codec's 8 kHz mono
    ...(o.playFile ? [] : [['ausrc_srate', '48000'], ['ausrc_channels', '2']]),
    ['audio_level', 'no'],
    ['rtp_ports', `${rtpLo}-${rtpLo + 99}`],
    ['rtp_timeout', '0'],
    ['module_path', BARESIP_MODULE_PATH],
    ['module', 'g711.so'],
    ['module', 'ausine.so'],
    ['module', 'aufile.so'],
    ['module', 'aubridge.so'],
    ...(o.recordTo ? [['module', 'sndfile.so'], ['snd_path', o.recordTo]] : []),
    ...(o.mediaenc ? [['module', 'srtp.so']] : []),
    ['module_app', 'account.so'],
    ['module_app', 'menu.so'], // provides the dial/hangup/accept commands ctrl_tcp runs
    ['module_app', 'ctrl_tcp.so'],
    ['ctrl_tcp_listen', `${LOOPBACK}:${ctrlPort}`],
  ];
  writeFileSync(path.join(dir, 'config'), lines.map(([k, v]) => `${k}\t\t${v}`).join('\n') + '\n');
  const codecs = (o.codecs ?? ['PCMU', 'PCMA']).join(',');
  const answer = o.autoAnswer === false ? 'manual' : 'auto';
  const tls = o.tls ? ';transport=tls' : '';
  const account = o.register
    ? `<sip:${o.user}@${LOOPBACK}:${o.register.port}${tls}>;auth_pass=${o.register.password};regint=60${tls ? `;outbound="sip:${LOOPBACK}:${o.register.port}${tls}"` : ''}`
    : `<sip:${o.user}@${LOOPBACK}${tls}>;regint=0`;
  writeFileSync(path.join(dir, 'accounts'), `${account};answermode=${answer};audio_codecs=${codecs}${o.mediaenc ? `;mediaenc=${o.mediaenc}` : ''}\n`);
  writeFileSync(path.join(dir, 'contacts'), '');
}

/** Start baresip; resolves once its SIP port is bound and ctrl_tcp accepts a connection. */
export async function startBaresip(opts: BaresipOptions = {}): Promise<Baresip> {
  const bin = requireBaresip();
  const o = { user: 'bob', ...opts };
  const dir = mkdtempSync(path.join(tmpdir(), 'callchart-baresip-'));
  if (o.recordTo) mkdirSync(o.recordTo, { recursive: true });
  const sipPort = await freePortBlock(2, { tcp: true, lo: 20000, hi: 29000 });
  const ctrlPort = await freeTcpPort();
  const rtpLo = await freePortBlock(100, { lo: 31000, hi: 39000, even: true });
  writeConfig(dir, o, sipPort, ctrlPort, rtpLo);

  const out = new Tail();
  const child = track(spawn(bin, ['-f', dir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
  child.stdout!.on('data', (d) => out.push(d));
  child.stderr!.on('data', (d) => out.push(d));
  const hard = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 120_000);
  hard.unref();
  child.once('exit', () => clearTimeout(hard));

  const events: BaresipEvent[] = [];
  const listeners = new Set<() => void>();
  const pending = new Map<string, (r: BaresipResponse) => void>();
  let sock: Socket | undefined;
  let tokenSeq = 0;

  const fail = async (msg: string): Promise<never> => {
    await terminate(child, 'SIGKILL');
    throw new Error(`${msg}\n--- baresip output (tail) ---\n${out.toString().slice(-3000)}`);
  };

  try {
    await waitUntil(() => udpPortBound(sipPort) || exited(child), 10_000, `baresip to bind SIP UDP ${sipPort}`);
  } catch (e) {
    await fail(String(e));
  }
  if (exited(child)) await fail(`baresip exited at start-up (code ${child.exitCode})`);

  // ctrl_tcp: retry the connection until the module listens.
  const t0 = Date.now();
  while (!sock) {
    try {
      sock = await new Promise<Socket>((resolve, reject) => {
        const s = connect(ctrlPort, LOOPBACK);
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      });
    } catch {
      if (Date.now() - t0 > 10_000 || exited(child)) await fail(`baresip ctrl_tcp on ${ctrlPort} did not accept a connection`);
      await sleep(50);
    }
  }
  const ctrl = sock!;
  ctrl.on('error', () => {
    /* baresip went away; stop() handles it */
  });
  let buf = Buffer.alloc(0);
  ctrl.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    // netstring: <len>:<payload>,
    for (;;) {
      const colon = buf.indexOf(0x3a);
      if (colon < 0) break;
      const len = Number(buf.subarray(0, colon).toString());
      if (!Number.isInteger(len) || buf.length < colon + 1 + len + 1) break;
      const payload = buf.subarray(colon + 1, colon + 1 + len).toString();
      buf = buf.subarray(colon + 1 + len + 1);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(payload);
      } catch {
        continue;
      }
      if (msg.event) {
        events.push(msg as BaresipEvent);
        for (const l of [...listeners]) l();
      } else if (msg.response && typeof msg.token === 'string') {
        pending.get(msg.token)?.({ ok: Boolean(msg.ok), data: String(msg.data ?? '') });
        pending.delete(msg.token);
      }
    }
  });

  const command = (cmd: string, params?: string, timeoutMs = 5000) =>
    new Promise<BaresipResponse>((resolve, reject) => {
      const token = `t${++tokenSeq}`;
      const json = JSON.stringify({ command: cmd, ...(params !== undefined ? { params } : {}), token });
      const t = setTimeout(() => {
        pending.delete(token);
        reject(new Error(`baresip command ${cmd} got no response in ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(token, (r) => {
        clearTimeout(t);
        resolve(r);
      });
      ctrl.write(`${Buffer.byteLength(json)}:${json},`);
    });

  const waitFor = (pred: (e: BaresipEvent) => boolean, timeoutMs = 10_000, what = 'event') =>
    new Promise<BaresipEvent>((resolve, reject) => {
      const hit = events.find(pred);
      if (hit) return resolve(hit);
      const check = () => {
        const e = events.find(pred);
        if (e) {
          clearTimeout(t);
          listeners.delete(check);
          resolve(e);
        }
      };
      const t = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`baresip: no ${what} within ${timeoutMs} ms; events so far: ${events.map((e) => e.type).join(', ') || 'none'}`));
      }, timeoutMs);
      listeners.add(check);
    });

  const listWav = (suffix: string) => {
    if (!o.recordTo) return [];
    return readdirSync(o.recordTo)
      .filter((f) => f.endsWith(suffix))
      .map((f) => path.join(o.recordTo!, f))
      .sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs);
  };

  const aor = `sip:${o.user}@${LOOPBACK}`;
  return {
    sipPort,
    ctrlPort,
    aor,
    uri: `sip:${o.user}@${LOOPBACK}:${sipPort}`,
    configDir: dir,
    pid: child.pid!,
    events,
    waitFor,
    command,
    dial: (uri) => command('dial', uri),
    hangup: () => command('hangup'),
    accept: () => command('accept'),
    recordings: () => ({ encoded: listWav('-enc.wav'), decoded: listWav('-dec.wav') }),
    log: () => out.toString(),
    async stop() {
      clearTimeout(hard);
      ctrl.destroy();
      await terminate(child, 'SIGTERM', 3000);
    },
  };
}
