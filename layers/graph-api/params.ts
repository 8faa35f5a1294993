import { ValidationError } from '../core/errors.ts';
import { MATRIX_METRICS, type MatrixMetric } from '../graph/index.ts';

/**
 * The query parameters of the graph API. Every parameter a route does not
 * know, every repeated one and every bad value is refused with a message
 * that names the parameter, the value and what would be valid.
 */

/** The figure a view emphasises; the same vocabulary as the matrix view. */
export type GraphMetric = MatrixMetric;
export const GRAPH_METRICS: readonly GraphMetric[] = MATRIX_METRICS;
export const DEFAULT_METRIC: GraphMetric = 'latency';

/** The same bounds as NETMON_GRAPH_MAX_AGE_SECONDS. */
export const MAX_AGE_RANGE = { min: 10, max: 31_536_000 } as const;

export type ParamName = 'metric' | 'maxAge';

export interface ViewParams {
  /** Absent: the combined view (every figure), as the render function draws it. */
  metric?: GraphMetric;
  /** Absent: the source's own threshold. */
  maxAgeSeconds?: number;
}

function parseMetric(value: string): GraphMetric {
  const metric = GRAPH_METRICS.find((m) => m === value);
  if (metric === undefined) throw new ValidationError('metric', value, `one of ${GRAPH_METRICS.join(', ')}`);
  return metric;
}

function parseMaxAge(value: string): number {
  const seconds = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!(seconds >= MAX_AGE_RANGE.min && seconds <= MAX_AGE_RANGE.max)) {
    throw new ValidationError(
      'maxAge',
      value,
      `whole seconds from ${MAX_AGE_RANGE.min} to ${MAX_AGE_RANGE.max} (pairs measured longer ago are drawn stale)`,
    );
  }
  return seconds;
}

/**
 * Reads `search` (a URL's query) for a route that accepts `allowed`.
 * Throws ValidationError: field is the parameter, value what was sent.
 */
export function parseViewParams(
  search: URLSearchParams,
  path: string,
  allowed: readonly ParamName[],
): ViewParams {
  const valid =
    allowed.length === 0
      ? `no parameters (${path} takes none)`
      : `a parameter of ${path}: ${allowed.join(', ')}`;
  for (const key of new Set(search.keys())) {
    if (!allowed.includes(key as ParamName)) {
      throw new ValidationError(`query parameter ${JSON.stringify(key)}`, search.get(key), valid);
    }
    const values = search.getAll(key);
    if (values.length > 1) throw new ValidationError(key, values, 'one value, given once');
  }
  const params: ViewParams = {};
  const metric = search.get('metric');
  if (metric !== null) params.metric = parseMetric(metric);
  const maxAge = search.get('maxAge');
  if (maxAge !== null) params.maxAgeSeconds = parseMaxAge(maxAge);
  return params;
}
