import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { errorLine } from '../core/errors.ts';
import type { GraphApi } from './server.ts';

/**
 * The graph API behind an HTTP API (API Gateway payload 2.0) event: the same
 * server as the Deployment's, started once per Lambda container on a
 * loopback port, each event forwarded to it. One code path answers both, so
 * ETags, 304s, 400s and the page behave the same in both places.
 */
const httpEventSchema = z.looseObject({
  rawPath: z.string().startsWith('/'),
  rawQueryString: z.string().default(''),
  headers: z.record(z.string(), z.string()).default({}),
  requestContext: z.looseObject({ http: z.looseObject({ method: z.string().min(1) }) }),
});

export interface HttpApiResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
}

/** API Gateway gives up on an integration after 30 s: the loopback request need not wait longer. */
const FORWARD_TIMEOUT_MS = 29_000;

/** Headers that describe the hop, not the request: the loopback fetch sets its own. */
const HOP_HEADERS = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive']);

export function httpApiHandler(
  startApi: () => Promise<GraphApi>,
): (event: unknown) => Promise<HttpApiResult> {
  let origin: Promise<string> | undefined;
  const ready = (): Promise<string> => {
    origin ??= startApi().then(async (api) => {
      const bound: AddressInfo = await api.listen(0, '127.0.0.1');
      return `http://127.0.0.1:${bound.port}`;
    });
    return origin;
  };
  return async (event) => {
    const parsed = httpEventSchema.safeParse(event);
    if (!parsed.success)
      return {
        statusCode: 400,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ error: 'not an HTTP API (payload 2.0) event' }),
        isBase64Encoded: false,
      };
    const { rawPath, rawQueryString, headers, requestContext } = parsed.data;
    const target = `${await ready()}${rawPath}${rawQueryString === '' ? '' : `?${rawQueryString}`}`;
    let response: Response;
    let body: Buffer;
    try {
      response = await fetch(target, {
        method: requestContext.http.method,
        headers: Object.fromEntries(
          Object.entries(headers).filter(([name]) => !HOP_HEADERS.has(name.toLowerCase())),
        ),
        signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
      });
      body = Buffer.from(await response.arrayBuffer());
    } catch (err) {
      return {
        statusCode: 504,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          error: `the graph API did not answer within ${FORWARD_TIMEOUT_MS / 1000} s: ${errorLine(err)}`,
        }),
        isBase64Encoded: false,
      };
    }
    const contentType = response.headers.get('content-type') ?? '';
    // fetch undoes gzip; the answer goes out plain, so its encoding headers must not.
    const replyHeaders = Object.fromEntries(
      [...response.headers].filter(
        ([name]) =>
          !['content-encoding', 'content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(
            name,
          ),
      ),
    );
    const text = /^(text\/|application\/(json|xml|graphml)|image\/svg)/.test(contentType);
    return {
      statusCode: response.status,
      headers: replyHeaders,
      body: text ? body.toString('utf8') : body.toString('base64'),
      isBase64Encoded: !text,
    };
  };
}
