// A Server-Sent Events client for the tests: a real HTTP request, messages parsed as they arrive.
import http from 'node:http';

export interface SseClient<T = unknown> {
  readonly status: number;
  readonly messages: T[];
  /** The first message (already received or still to come) matching `pred`. */
  next(pred: (m: T) => boolean, timeoutMs?: number): Promise<T>;
  close(): void;
}

export function openSse<T = unknown>(url: string, headers: Record<string, string> = {}): Promise<SseClient<T>> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      const messages: T[] = [];
      const waiters = new Set<() => void>();
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          if (data) messages.push(JSON.parse(data) as T);
        }
        for (const w of [...waiters]) w();
      });
      resolve({
        status: res.statusCode ?? 0,
        messages,
        next(pred, timeoutMs = 5000) {
          return new Promise<T>((ok, fail) => {
            const check = () => {
              const m = messages.find(pred);
              if (m === undefined) return false;
              waiters.delete(check);
              clearTimeout(t);
              ok(m);
              return true;
            };
            const t = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`no matching SSE message within ${timeoutMs} ms (got ${messages.length}: ${JSON.stringify(messages).slice(-600)})`));
            }, timeoutMs);
            if (!check()) waiters.add(check);
          });
        },
        close() {
          req.destroy();
        },
      });
    });
    req.on('error', reject);
  });
}

/** A plain GET: status, headers and body. */
export function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}
