import { z } from 'zod';
import { ValidationError } from '../core/errors.ts';
import { isXmlSafe } from './text.ts';

/**
 * The runtime shape of a graph model (version 1), shared by parseGraphJson
 * and buildGraphModel so that what one writes the other accepts. The
 * TypeScript types are model.ts's, which checks at compile time that both
 * agree (this file imports none of the model: no cycle). Every field
 * is present; null means unknown. Unknown fields are dropped (see
 * docs/graph-json.md for the version policy).
 */

const ISO_UTC = 'an ISO 8601 UTC time such as 2025-01-31T12:00:00.000Z';

function figure(unit: string): z.ZodNullable<z.ZodNumber> {
  const expected = `a finite number >= 0 (${unit}) or null`;
  return z.number({ error: expected }).min(0, { error: expected }).nullable();
}

const seconds = () => figure('seconds');
const bitsPerSecond = () => figure('bit/s');
const text = (expected: string) => z.string({ error: expected });

const ratio = () =>
  z
    .number({ error: 'a ratio between 0 and 1, or null' })
    .min(0, { error: 'a ratio between 0 and 1' })
    .max(1, { error: 'a ratio between 0 and 1' })
    .nullable();

/** How the clock offsets implied by one-way delays close around the node's triangles (layers/domain/one-way.ts). */
export const clockClosureSchema = z.object(
  {
    residualSeconds: z
      .number({ error: 'a number of seconds >= 0' })
      .min(0, { error: 'a number of seconds >= 0' }),
    triangle: z.tuple([text('a node name'), text('a node name'), text('a node name')], {
      error: 'three node names',
    }),
    flagged: z.boolean({ error: 'true or false' }),
    triangles: z.number().int().min(0),
    failingTriangles: z.number().int().min(0),
  },
  { error: 'the clock closure {residualSeconds, triangle, flagged, triangles, failingTriangles}' },
);

export const nodeSchema = z.object({
  name: text('a non-empty node name without control characters')
    .min(1, { error: 'a non-empty node name' })
    .refine(isXmlSafe, { error: 'a node name without control characters (XML cannot carry them)' }),
  address: text('an address (string) or null').nullable(),
  labels: z.record(z.string(), text('a label value (string)'), {
    error: 'an object of label name -> value',
  }),
  clockClosure: clockClosureSchema.optional(),
});

/** udp_latency's one-way figures of the edge's direction, with the clocks' bound (layers/domain/one-way.ts). */
export const edgeOneWaySchema = z.object(
  {
    delaySeconds: seconds(),
    lossRatio: ratio(),
    clockErrorBoundSeconds: seconds(),
    trusted: z.boolean({ error: 'true, false or null' }).nullable(),
  },
  { error: 'one-way figures {delaySeconds, lossRatio, clockErrorBoundSeconds, trusted}' },
);

export const latencySchema = z.object(
  { min: seconds(), mean: seconds(), median: seconds(), p99: seconds(), max: seconds() },
  { error: 'latency figures {min, mean, median, p99, max} in seconds, or null' },
);

export const throughputSchema = z.object(
  { mean: bitsPerSecond(), median: bitsPerSecond(), p99: bitsPerSecond() },
  { error: 'throughput figures {mean, median, p99} in bit/s, or null' },
);

/** The last sweep's figures of the edge's direction (layers/domain/sweep.ts). */
export const edgeSweepSchema = z.object(
  {
    connectivity: z.literal([0, 1], { error: '0, 1 or null' }).nullable(),
    sweptAt: z.iso.datetime({ error: `${ISO_UTC}, or null` }).nullable(),
    sent: z.number({ error: 'a count >= 0, or null' }).int().min(0).nullable(),
    received: z.number({ error: 'a count >= 0, or null' }).int().min(0).nullable(),
    lossRatio: ratio(),
    rttMinSeconds: seconds(),
    rttMedianSeconds: seconds(),
    rttP99Seconds: seconds(),
    underLoad: z.boolean({ error: 'true or false' }),
  },
  {
    error:
      'sweep figures {connectivity, sweptAt, sent, received, lossRatio, rttMinSeconds, rttMedianSeconds, rttP99Seconds, underLoad}, or null',
  },
);

/** The newest test of the direction broke and measured nothing (an infrastructure reason, not the network). */
export const edgeNotMeasuredSchema = z.object(
  {
    reason: text('a failure reason (string)'),
    test: text('a flent test name or null').nullable(),
    testedAt: z.iso.datetime({ error: `${ISO_UTC}, or null` }).nullable(),
  },
  { error: 'the test that measured nothing {reason, test, testedAt}, or null' },
);

/** What the newest measured test said of the direction, whichever source gave the edge's connectivity. */
export const edgeLastTestSchema = z.object(
  {
    connectivity: z.literal([0, 1], { error: '0 or 1' }),
    reason: text('a failure reason (string) or null').nullable(),
    testedAt: z.iso.datetime({ error: `${ISO_UTC}, or null` }).nullable(),
  },
  { error: 'the last test {connectivity, reason, testedAt}, or null' },
);

export const edgeInputSchema = z.object({
  src: text('a node name'),
  dst: text('a node name'),
  connectivity: z.literal([0, 1], { error: '0, 1 or null (never measured)' }).nullable(),
  reason: text('a failure reason (string) or null').nullable(),
  latency: latencySchema.nullable(),
  lossRatio: z
    .number({ error: 'a ratio between 0 and 1, or null' })
    .min(0, { error: 'a ratio between 0 and 1' })
    .max(1, { error: 'a ratio between 0 and 1' })
    .nullable(),
  throughput: throughputSchema.nullable(),
  tests: z.array(text('a flent test name'), { error: 'an array of flent test names' }),
  measuredAt: z.iso.datetime({ error: `${ISO_UTC}, or null` }).nullable(),
  oneWay: edgeOneWaySchema.optional(),
  // Added to version 1 later: a document without them (an older render's) reads as null.
  connectivitySource: z
    .enum(['test', 'sweep'], { error: '"test", "sweep" or null' })
    .nullable()
    .default(null),
  connectivityAt: z.iso
    .datetime({ error: `${ISO_UTC}, or null` })
    .nullable()
    .default(null),
  concurrency: text('a concurrency mode (serial, disjoint) or null').nullable().default(null),
  sweep: edgeSweepSchema.nullable().default(null),
  lastTest: edgeLastTestSchema.nullable().default(null),
  notMeasured: edgeNotMeasuredSchema.nullable().default(null),
});

export const edgeSchema = edgeInputSchema.extend({
  ageSeconds: z.number({ error: 'a finite number of seconds, or null' }).nullable(),
  stale: z.boolean({ error: 'true or false' }),
});

export const graphModelSchema = z.object({
  version: z.literal(1, { error: 'version 1 (the only version this reader understands)' }),
  title: text('a title (string)'),
  schedule: text('a schedule name (string) or null').nullable(),
  generatedAt: z.iso.datetime({ error: ISO_UTC }),
  maxAgeSeconds: z
    .number({ error: 'a number of seconds > 0' })
    .positive({ error: 'a number of seconds > 0' }),
  nodes: z.array(nodeSchema, { error: 'an array of nodes' }),
  edges: z.array(edgeSchema, { error: 'an array of edges' }),
});

/** `edges[3].latency.median`, `nodes[0].labels["topology.kubernetes.io/zone"]`. */
export function formatPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current = root;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = Reflect.get(current, key);
  }
  return current;
}

/** Parses with a schema; the first problem becomes a ValidationError naming its path and value. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, root: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  const path = issue?.path ?? [];
  const more = result.error.issues.length - 1;
  const expected = `${issue?.message ?? 'a valid graph model'}${more > 0 ? ` (and ${more} more problems)` : ''}`;
  throw new ValidationError(formatPath(root, path) || 'graph', valueAt(value, path), expected, {
    cause: result.error,
  });
}
