// Locating SIP servers (RFC 3263 §4): which transport, address and port a request to a SIP URI
// goes to, as an ordered list of targets to try in turn (the UAC moves to the next one on a
// timeout or a 503, §4.3). NAPTR picks the transport, SRV the hosts and ports (RFC 2782: lowest
// priority first, weighted random order within one priority), A/AAAA the addresses.
//
// The DNS is an injected interface with node:dns's Resolver methods, so tests give a fake one and
// the engine a real `new Resolver()`. A numeric host needs no DNS at all (the hot path).
import { isIP } from 'node:net';
import type { NaptrRecord, SrvRecord } from 'node:dns';
import type { SipUri } from '../codec/uri.js';
import type { SipTransportKind } from '../transport/types.js';

/** The lookups RFC 3263 needs: node:dns/promises' Resolver has exactly these. */
export interface SipDnsResolver {
  resolveNaptr(name: string): Promise<NaptrRecord[]>;
  resolveSrv(name: string): Promise<SrvRecord[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
}

export interface SipTarget {
  address: string;
  port: number;
  transport: SipTransportKind;
}

export interface ResolveOptions {
  resolver: SipDnsResolver;
  /** Transports we can send on (UDP always; TCP/TLS when configured). */
  supported: readonly SipTransportKind[];
  /** [0, 1) for the SRV weight draw (tests fix it). */
  random?: () => number;
  /** Also look up AAAA (default false: the UA binds IPv4). */
  ipv6?: boolean;
}

const NAPTR_SERVICES: Record<string, SipTransportKind> = { 'SIP+D2U': 'udp', 'SIP+D2T': 'tcp', 'SIPS+D2T': 'tls' };
const SRV_PREFIX: Record<SipTransportKind, string> = { udp: '_sip._udp.', tcp: '_sip._tcp.', tls: '_sips._tcp.' };
const DEFAULT_PORT: Record<SipTransportKind, number> = { udp: 5060, tcp: 5060, tls: 5061 };

/** The transport the URI names itself (§4.1): sips: is TLS; else its transport parameter. */
function uriTransport(uri: SipUri): SipTransportKind | undefined {
  if (uri.scheme === 'sips') return 'tls';
  const t = uri.params.get('transport')?.toLowerCase();
  return t === 'udp' || t === 'tcp' || t === 'tls' ? t : undefined;
}

/**
 * The targets for `uri`, in the order to try them. Empty when nothing resolves (or only to
 * transports we do not support); DNS errors count as "no such record".
 */
export async function resolveSipTargets(uri: SipUri, o: ResolveOptions): Promise<SipTarget[]> {
  const host = uri.host.replace(/^\[|\]$/g, '');
  const wanted = uriTransport(uri);
  const allowed = (t: SipTransportKind) => o.supported.includes(t) && (uri.scheme !== 'sips' || t === 'tls');
  // §4.1/§4.2: a numeric host, or an explicit port, skips NAPTR and SRV.
  if (isIP(host) || uri.port !== undefined) {
    const transport = wanted ?? 'udp';
    if (!allowed(transport)) return [];
    const port = uri.port ?? DEFAULT_PORT[transport];
    const addresses = isIP(host) ? [host] : await addressesOf(host, o);
    return addresses.map((address) => ({ address, port, transport }));
  }
  // §4.1: transport given → SRV for it; otherwise NAPTR, then SRV per supported transport.
  let srvNames: Array<{ name: string; transport: SipTransportKind }> = [];
  if (wanted) srvNames = allowed(wanted) ? [{ name: SRV_PREFIX[wanted] + host, transport: wanted }] : [];
  else {
    const naptr = (await quiet(o.resolver.resolveNaptr(host)))
      .filter((r) => r.flags.toLowerCase() === 's' && NAPTR_SERVICES[r.service.toUpperCase()] !== undefined)
      .filter((r) => allowed(NAPTR_SERVICES[r.service.toUpperCase()]!))
      .sort((a, b) => a.order - b.order || a.preference - b.preference);
    srvNames = naptr.map((r) => ({ name: r.replacement, transport: NAPTR_SERVICES[r.service.toUpperCase()]! }));
    // §4.1: no usable NAPTR → SRV for each transport we support (TLS first: the most secure).
    if (srvNames.length === 0) srvNames = (['tls', 'tcp', 'udp'] as const).filter(allowed).map((t) => ({ name: SRV_PREFIX[t] + host, transport: t }));
  }
  const targets: SipTarget[] = [];
  for (const { name, transport } of srvNames) {
    const srv = await quiet(o.resolver.resolveSrv(name));
    if (srv.length === 0) continue;
    for (const r of orderSrv(srv, o.random ?? Math.random)) {
      if (r.name === '.' || r.name === '') continue;
      for (const address of await addressesOf(r.name, o)) targets.push({ address, port: r.port, transport });
    }
    // With NAPTR or an explicit transport the first SRV set that resolved is the answer; without,
    // the most preferred transport's set is (§4.1).
    if (targets.length) return targets;
  }
  // §4.2: no SRV either → the host's addresses, default transport and port.
  const transport = wanted ?? (uri.scheme === 'sips' ? 'tls' : 'udp');
  if (!allowed(transport)) return [];
  return (await addressesOf(host, o)).map((address) => ({ address, port: DEFAULT_PORT[transport], transport }));
}

/** RFC 2782 order: ascending priority; within a priority, weighted random selection. */
export function orderSrv(records: readonly SrvRecord[], random: () => number): SrvRecord[] {
  const byPriority = new Map<number, SrvRecord[]>();
  for (const r of records) byPriority.set(r.priority, [...(byPriority.get(r.priority) ?? []), r]);
  const out: SrvRecord[] = [];
  for (const p of [...byPriority.keys()].sort((a, b) => a - b)) {
    // Zero weights first, as RFC 2782 asks, so they keep a small chance of being picked.
    const left = [...byPriority.get(p)!].sort((a, b) => (a.weight === 0 ? -1 : 0) - (b.weight === 0 ? -1 : 0));
    while (left.length) {
      const total = left.reduce((n, r) => n + r.weight, 0);
      const draw = Math.floor(random() * (total + 1));
      let sum = 0;
      let i = left.findIndex((r) => (sum += r.weight) >= draw);
      if (i < 0) i = left.length - 1;
      out.push(left.splice(i, 1)[0]!);
    }
  }
  return out;
}

async function addressesOf(host: string, o: ResolveOptions): Promise<string[]> {
  const v4 = await quiet(o.resolver.resolve4(host));
  const v6 = o.ipv6 ? await quiet(o.resolver.resolve6(host)) : [];
  return [...v4, ...v6];
}

async function quiet<T>(p: Promise<T[]>): Promise<T[]> {
  try {
    return await p;
  } catch {
    return [];
  }
}
