// GET /health (JSON) and POST /admin/drain, /admin/resume (bearer token; off without one).
//
// /health answers 200 while open and 503 while draining, so a load balancer's readiness check
// takes a draining server out of rotation; GET /status stays the plain liveness check (always
// 200 while the process serves). Both are public, like /status: a probe has no credentials.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Call } from '../call/call.js';
import type { DrainStatus } from './drain.js';
import type { ClusterHealth } from '../cluster/member.js';

export interface Health {
  status: DrainStatus;
  /** Draining with no live call left. */
  idle: boolean;
  /** Live calls by transport (`sip`, `ws`, `jambonz`…) and in all. */
  calls: Record<string, number> & { total: number };
  version: string;
  uptimeSeconds: number;
  /**
   * Cluster membership (engines with `cluster`): `degraded` while Redis is unreachable. The HTTP
   * status stays 200 then: the node still takes calls that need no shared state.
   */
  cluster?: ClusterHealth;
}

let cachedVersion: string | undefined;

/** callchart's version, from the package.json above this module (src/ or dist/src/). */
export function packageVersion(): string {
  if (cachedVersion) return cachedVersion;
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'callchart' && pkg.version) return (cachedVersion = pkg.version);
    } catch {
      /* try the next */
    }
  }
  return (cachedVersion = 'unknown');
}

export function health(status: DrainStatus, idle: boolean, calls: readonly Call[], startedAt: number, remoteSip = 0): Health {
  const byTransport: Record<string, number> & { total: number } = { sip: remoteSip, ws: 0, jambonz: 0, total: remoteSip };
  for (const c of calls) {
    byTransport[c.transport] = (byTransport[c.transport] ?? 0) + 1;
    byTransport.total++;
  }
  return { status, idle, calls: byTransport, version: packageVersion(), uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(`${JSON.stringify(body)}\n`);
}

export function healthHandler(get: () => Health): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    const h = get();
    json(res, h.status === 'open' ? 200 : 503, h);
  };
}

/** Constant-time bearer check (digests, so the length of the token does not leak either). */
export function bearerMatches(req: IncomingMessage, token: string): boolean {
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const a = createHash('sha256').update(m[1]!).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

export interface AdminHandlers {
  drain(exitWhenIdle: boolean): void;
  resume(): void;
  health(): Health;
}

/**
 * POST /admin/drain[?exitWhenIdle=true] and POST /admin/resume: 202 with the health JSON; 401
 * without the right `Authorization: Bearer <token>`.
 */
export function adminHandler(token: string, action: 'drain' | 'resume', h: AdminHandlers): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    // The body is not read: anything sent is discarded.
    req.resume();
    if (!bearerMatches(req, token)) {
      res.setHeader('www-authenticate', 'Bearer realm="callchart-admin"');
      return json(res, 401, { error: 'a valid admin bearer token is required' });
    }
    if (action === 'drain') {
      const q = new URL(req.url ?? '/', 'http://localhost').searchParams.get('exitWhenIdle');
      h.drain(q === 'true' || q === '1');
    } else h.resume();
    json(res, 202, h.health());
  };
}
