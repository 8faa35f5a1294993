import type { z } from 'zod';
import { ValidationError } from '../core/errors.ts';
import type { LatencyFigures, ThroughputFigures } from '../domain/figures.ts';
import type { NodeClosure } from '../domain/one-way.ts';
import { edgeInputSchema, type edgeSchema, type graphModelSchema, nodeSchema, parseWith } from './schema.ts';

/**
 * The graph of the cluster at one moment: nodes, and one directed edge per
 * measured (or expected) ordered pair. Every output format (DOT, SVG,
 * GraphML, JSON) is drawn from this model. Figures are in base units.
 */

export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const REGION_LABEL = 'topology.kubernetes.io/region';

export interface GraphNode {
  name: string;
  address: string | null;
  /** Kubernetes node labels; zone and region come from the well-known topology labels. */
  labels: Record<string, string>;
  /** Whether the clock offsets its one-way delays imply close around its triangles (udp_latency only). */
  clockClosure?: Omit<NodeClosure, 'node'> | undefined;
}

/** One direction's one-way figures (udp_latency), published only beside the clocks' bound. */
export interface EdgeOneWay {
  /** Median one-way delay src -> dst, seconds; null when the clocks made it negative. */
  delaySeconds: number | null;
  lossRatio: number | null;
  clockErrorBoundSeconds: number | null;
  trusted: boolean | null;
}

/** Where an edge's connectivity comes from: the newest Flent test of the pair, or the sweep (fping, every minute). */
export const CONNECTIVITY_SOURCES = ['test', 'sweep'] as const;
export type ConnectivitySource = (typeof CONNECTIVITY_SOURCES)[number];

/** The last sweep's figures of the edge's direction (layers/domain/sweep.ts); RTTs null without a reply. */
export interface EdgeSweep {
  connectivity: 0 | 1 | null;
  /** ISO 8601 UTC end of the sweep. */
  sweptAt: string | null;
  sent: number | null;
  received: number | null;
  lossRatio: number | null;
  rttMinSeconds: number | null;
  rttMedianSeconds: number | null;
  rttP99Seconds: number | null;
  /** src or dst was in a bandwidth test during the sweep: its RTTs include the test's queues. */
  underLoad: boolean;
}

/**
 * The pair's newest test measured nothing: the test itself broke (an
 * infrastructure reason of layers/domain/outcome.ts: tool-error,
 * oom-killed, deadline-exceeded, store-unavailable), not the network. The
 * edge keeps the connectivity and figures of its last measurement.
 */
export interface EdgeNotMeasured {
  reason: string;
  /** The Flent test that broke. */
  test: string | null;
  /** ISO 8601 UTC end of that test. */
  testedAt: string | null;
}

/** What the newest measured test said of the direction's connectivity, even when a fresher sweep overrules it. */
export interface EdgeLastTest {
  connectivity: 0 | 1;
  reason: string | null;
  /** ISO 8601 UTC end of that test. */
  testedAt: string | null;
}

export interface GraphEdge {
  /** Direction of probes and data: src -> dst. */
  src: string;
  dst: string;
  /** null: never measured. */
  connectivity: 0 | 1 | null;
  /** Why connectivity is 0 (a FailureReason of layers/domain/outcome.ts, or skipped). */
  reason: string | null;
  /** Seconds, round trip of the headline probe src -> dst -> src. */
  latency: LatencyFigures | null;
  lossRatio: number | null;
  /** bit/s of data flowing src -> dst. */
  throughput: ThroughputFigures | null;
  /** Flent tests that contributed (ping, tcp_upload, tcp_download, rrul). */
  tests: string[];
  /** ISO 8601 UTC of the newest contributing measurement. */
  measuredAt: string | null;
  oneWay?: EdgeOneWay | undefined;
  /** Which measurement gave `connectivity` (and `reason`): the fresher of the newest test and the sweep. */
  connectivitySource: ConnectivitySource | null;
  /** ISO 8601 UTC time of that measurement. */
  connectivityAt: string | null;
  /** How the round of the newest contributing test ran: `serial` or `disjoint`. */
  concurrency: string | null;
  sweep: EdgeSweep | null;
  lastTest: EdgeLastTest | null;
  /** Set when the newest test of the direction broke and measured nothing (newer than lastTest); else null. */
  notMeasured: EdgeNotMeasured | null;
  /** generatedAt - measuredAt; null when never measured. */
  ageSeconds: number | null;
  /** Never measured, or older than maxAgeSeconds. */
  stale: boolean;
}

export interface GraphModel {
  version: 1;
  title: string;
  schedule: string | null;
  /** ISO 8601 UTC. */
  generatedAt: string;
  maxAgeSeconds: number;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** Fields added after the first documents: older writers (and fixtures) leave them out, readers take null. */
type LaterEdgeField =
  | 'connectivitySource'
  | 'connectivityAt'
  | 'concurrency'
  | 'sweep'
  | 'lastTest'
  | 'notMeasured';

export type GraphEdgeInput = Omit<GraphEdge, 'ageSeconds' | 'stale' | LaterEdgeField> &
  Partial<Pick<GraphEdge, LaterEdgeField>>;

/** Fails to compile when the schema (schema.ts) and this model drift apart. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type SchemaMatchesModel = Assert<Same<z.infer<typeof graphModelSchema>, GraphModel>>;
export type SchemaMatchesEdge = Assert<Same<z.infer<typeof edgeSchema>, GraphEdge>>;

/** An edge with nothing measured yet: the start of every merge. */
export function unmeasuredEdge(src: string, dst: string): GraphEdgeInput {
  return {
    src,
    dst,
    connectivity: null,
    reason: null,
    latency: null,
    lossRatio: null,
    throughput: null,
    tests: [],
    measuredAt: null,
    connectivitySource: null,
    connectivityAt: null,
    concurrency: null,
    sweep: null,
    lastTest: null,
    notMeasured: null,
  };
}

export interface GraphModelInput {
  title: string;
  schedule: string | null;
  generatedAt: Date;
  maxAgeSeconds: number;
  nodes: GraphNode[];
  edges: GraphEdgeInput[];
}

export function zoneOf(node: GraphNode): string | null {
  return node.labels[ZONE_LABEL] ?? null;
}

export function regionOf(node: GraphNode): string | null {
  return node.labels[REGION_LABEL] ?? null;
}

/** Code-unit order, not locale order: the same on every machine. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function sortNodes<T extends { name: string }>(nodes: readonly T[]): T[] {
  return [...nodes].sort((a, b) => compareText(a.name, b.name));
}

export function sortEdges<T extends { src: string; dst: string }>(edges: readonly T[]): T[] {
  return [...edges].sort((a, b) => compareText(a.src, b.src) || compareText(a.dst, b.dst));
}

/**
 * The checks a schema cannot express: unique node names, edges between two
 * known and different nodes, one edge per ordered pair.
 */
export function checkReferences(
  nodes: ReadonlyArray<{ name: string }>,
  edges: ReadonlyArray<{ src: string; dst: string }>,
): void {
  const names = new Set<string>();
  nodes.forEach((node, i) => {
    if (names.has(node.name)) throw new ValidationError(`nodes[${i}].name`, node.name, 'a unique node name');
    names.add(node.name);
  });
  const pairs = new Set<string>();
  edges.forEach((edge, i) => {
    for (const end of ['src', 'dst'] as const) {
      if (!names.has(edge[end]))
        throw new ValidationError(`edges[${i}].${end}`, edge[end], 'one of the node names');
    }
    if (edge.src === edge.dst)
      throw new ValidationError(`edges[${i}].dst`, edge.dst, 'a node other than src');
    const key = JSON.stringify([edge.src, edge.dst]);
    if (pairs.has(key)) {
      throw new ValidationError(
        `edges[${i}]`,
        `${edge.src} -> ${edge.dst}`,
        'one edge per ordered (src, dst) pair',
      );
    }
    pairs.add(key);
  });
}

function checkHeader(input: GraphModelInput): void {
  if (!(input.generatedAt instanceof Date) || Number.isNaN(input.generatedAt.getTime())) {
    throw new ValidationError('generatedAt', input.generatedAt, 'a valid Date');
  }
  if (!Number.isFinite(input.maxAgeSeconds) || input.maxAgeSeconds <= 0) {
    throw new ValidationError('maxAgeSeconds', input.maxAgeSeconds, 'a finite number of seconds > 0');
  }
}

function withAge(
  edge: Omit<GraphEdge, 'ageSeconds' | 'stale'>,
  generatedAtMs: number,
  maxAgeSeconds: number,
): GraphEdge {
  const measuredMs = edge.measuredAt === null ? null : Date.parse(edge.measuredAt);
  // Millisecond precision: enough for ages, and stable through JSON.
  const ageSeconds = measuredMs === null ? null : Math.round(generatedAtMs - measuredMs) / 1000;
  return {
    ...edge,
    tests: [...edge.tests],
    ageSeconds,
    stale: ageSeconds === null || ageSeconds > maxAgeSeconds,
  };
}

/**
 * Checks the input, computes each edge's age and staleness, and sorts nodes
 * by name and edges by (src, dst) so that every format comes out the same for
 * the same measurements. Throws ValidationError naming the field and value.
 */
export function buildGraphModel(input: GraphModelInput): GraphModel {
  checkHeader(input);
  const nodes = input.nodes.map((node, i) => parseWith(nodeSchema, node, `nodes[${i}]`));
  const edges = input.edges.map((edge, i) => parseWith(edgeInputSchema, edge, `edges[${i}]`));
  checkReferences(nodes, edges);
  const generatedAtMs = input.generatedAt.getTime();
  return {
    version: 1,
    title: input.title,
    schedule: input.schedule,
    generatedAt: input.generatedAt.toISOString(),
    maxAgeSeconds: input.maxAgeSeconds,
    nodes: sortNodes(nodes),
    edges: sortEdges(edges.map((edge) => withAge(edge, generatedAtMs, input.maxAgeSeconds))),
  };
}
