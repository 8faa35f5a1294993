import { errorLine } from '../core/errors.ts';
import { MetricsError } from './errors.ts';

/**
 * Plain HTTP GETs to the gateway and to Prometheus. fetch() refuses URLs with
 * embedded credentials, so user:pass moves into an Authorization header, and
 * error messages name the URL without them.
 */

export const DEFAULT_TIMEOUT_MS = 10_000;

export interface Endpoint {
  /** Without credentials: safe to pass to fetch. */
  url: string;
  headers: Record<string, string>;
}

/** `path` (which may carry a query string) under `base`, keeping any path prefix of `base`. */
export function endpoint(base: string, path: string): Endpoint {
  const root = parseBaseUrl(base);
  const url = new URL(path.replace(/^\/+/, ''), root);
  const headers: Record<string, string> = {};
  if (url.username !== '' || url.password !== '') {
    const user = safeDecode(url.username);
    const pass = safeDecode(url.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  return { url: url.toString(), headers };
}

/** An http(s) base URL ending in '/'; the error never echoes the input (it may hold credentials). */
export function parseBaseUrl(base: string): URL {
  let url: URL;
  try {
    url = new URL(base.endsWith('/') ? base : `${base}/`);
  } catch {
    throw new MetricsError('parse', base, null, 'not a valid URL (expected http://host:port)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new MetricsError(
      'parse',
      base,
      null,
      `unsupported scheme ${url.protocol} (expected http or https)`,
    );
  return url;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The body of a 2xx response; MetricsError (naming `what`, the URL and the status) otherwise. */
export async function getText(base: string, path: string, what: string, timeoutMs: number): Promise<string> {
  const { url, headers } = endpoint(base, path);
  let response: Response;
  let body: string;
  try {
    response = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
    body = await response.text();
  } catch (err) {
    throw new MetricsError(what, url, null, errorLine(err), { cause: err });
  }
  if (!response.ok) throw new MetricsError(what, url, response.status, bodyTail(body));
  return body;
}

/** Like getText, parsed as JSON; Prometheus answers errors as JSON too, so 4xx/5xx bodies are kept. */
export async function getJson(
  base: string,
  path: string,
  what: string,
  timeoutMs: number,
): Promise<{ status: number; body: unknown }> {
  const { url, headers } = endpoint(base, path);
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
    text = await response.text();
  } catch (err) {
    throw new MetricsError(what, url, null, errorLine(err), { cause: err });
  }
  try {
    return { status: response.status, body: JSON.parse(text) as unknown };
  } catch {
    throw new MetricsError(what, url, response.status, `not JSON: ${bodyTail(text)}`);
  }
}

export function bodyTail(body: string, max = 300): string {
  const oneLine = body.trim().replace(/\s+/g, ' ');
  return oneLine.length > max ? `${oneLine.slice(0, max)}...` : oneLine || '(empty body)';
}
