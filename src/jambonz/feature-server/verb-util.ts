// Small pieces every verb runner shares.

/** A verb's hook as jambonz accepts it: a URL string or `{ url, … }`. */
export const hookUrl = (h: unknown): string | undefined =>
  typeof h === 'string' ? h : h && typeof h === 'object' && typeof (h as { url?: unknown }).url === 'string' ? (h as { url: string }).url : undefined;

/** Wait `ms`, or less when `signal` aborts (resolves either way). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
