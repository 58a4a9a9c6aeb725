// The `lookup` the SIP sockets (transport, worker router, HEP exporter) are created with. dgram's
// default sends each datagram to an unconnected socket through dns.lookup(), which for an IP
// literal still costs a nextTick, a callback closure and ~0.5 KB of garbage per datagram. Literals
// are answered at once; names still resolve. RTP sockets keep the default (media/rtp/ports.ts).
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIPv4, isIPv6 } from 'node:net';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/** dgram's lookup option: IP literals of the socket's family synchronously, anything else by DNS. */
export function lookupLiteral(host: string, options: LookupOneOptions | number, cb: LookupCallback): void {
  const family = typeof options === 'number' ? options : options.family;
  if (family !== 6 && isIPv4(host)) cb(null, host, 4);
  else if (family === 6 && isIPv6(host)) cb(null, host, 6);
  else dnsLookup(host, options as LookupOneOptions, cb);
}
