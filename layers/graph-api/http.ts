import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NetmonError } from '../core/errors.ts';

/**
 * The graph API's HTTP helpers: what a reply is, how it goes on the wire
 * (strong ETags, 304 on If-None-Match, gzip'd assets, HEAD), and the error
 * a route throws for a status of its own. Nothing here knows a route.
 */

export interface Reply {
  status: number;
  body: string | Uint8Array;
  contentType: string;
  /** Validators and caching: documents get an ETag and must be revalidated; health and metrics are never cached. */
  cache: 'revalidate' | 'none';
  gzipped?: Uint8Array;
  headers?: Record<string, string>;
}

/** A reply that is not a document: an error, named in JSON with what to do. */
export class HttpError extends NetmonError {
  override name = 'HttpError';
  readonly status: number;
  readonly details: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    message: string,
    details: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = status;
    this.details = details;
    this.headers = headers;
  }
}

/** A JSON answer that is never cached (errors, health). */
export function jsonReply(status: number, value: unknown): Reply {
  return {
    status,
    body: `${JSON.stringify(value, null, 2)}\n`,
    contentType: 'application/json',
    cache: 'none',
  };
}

/** A document: 200, with an ETag, revalidated on every use. */
export function documentReply(body: string | Uint8Array, contentType: string): Reply {
  return { status: 200, body, contentType, cache: 'revalidate' };
}

export function etagOf(body: string | Uint8Array): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`;
}

/** If-None-Match uses the weak comparison: W/"x" matches "x". */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  const strip = (tag: string): string => tag.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((tag) => tag.trim() === '*' || strip(tag) === strip(etag));
}

export function acceptsGzip(request: IncomingMessage): boolean {
  return /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
}

const PAGE_CSP =
  // WebAssembly (Graphviz) needs wasm-unsafe-eval; d3 sets inline styles.
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:";

function baseHeaders(reply: Reply, draining: boolean): Record<string, string> {
  return {
    'Content-Type': reply.contentType,
    'X-Content-Type-Options': 'nosniff',
    ...(reply.contentType.startsWith('text/html') ? { 'Content-Security-Policy': PAGE_CSP } : {}),
    ...(draining ? { Connection: 'close' } : {}),
    ...(reply.headers ?? {}),
  };
}

/**
 * Status, headers and body on the wire; returns the bytes of the body.
 * `draining`: the server is stopping, so the connection is not kept.
 */
export function send(
  request: IncomingMessage,
  response: ServerResponse,
  reply: Reply,
  draining: boolean,
): number {
  const headers = baseHeaders(reply, draining);
  let body = reply.gzipped ?? reply.body;
  let status = reply.status;
  if (reply.cache === 'none') {
    headers['Cache-Control'] = 'no-store';
  } else {
    // Strong validators are per representation: the gzip'd bytes get their own.
    const etag = etagOf(reply.body);
    headers.ETag = reply.gzipped === undefined ? etag : `${etag.slice(0, -1)}-gz"`;
    headers['Cache-Control'] = 'no-cache';
    headers.Vary = 'Accept-Encoding';
    if (reply.gzipped !== undefined) headers['Content-Encoding'] = 'gzip';
    if (status === 200 && etagMatches(request.headers['if-none-match'], headers.ETag)) {
      status = 304;
      body = '';
      delete headers['Content-Type'];
      delete headers['Content-Encoding'];
    }
  }
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  if (status !== 304) headers['Content-Length'] = String(bytes.length);
  response.writeHead(status, headers);
  response.end(request.method === 'HEAD' || status === 304 ? undefined : bytes);
  return bytes.length;
}
