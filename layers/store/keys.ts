/**
 * The S3 key layout (DESIGN.md, Storage layout). Node and schedule names go
 * into keys through a reversible encoding: letters, digits, '.', '_' and '-'
 * stay as they are (Kubernetes node names read naturally), every other byte
 * becomes %XX, and the segments '.', '..' and '' are encoded whole.
 */

const SAFE = /^[A-Za-z0-9._-]$/;

export function encodeSegment(value: string): string {
  if (value === '' || value === '.' || value === '..') {
    return [...Buffer.from(value === '' ? '\u0000' : value, 'utf8')].map(hex).join('');
  }
  let out = '';
  for (const char of value) {
    out += SAFE.test(char) ? char : [...Buffer.from(char, 'utf8')].map(hex).join('');
  }
  return out;
}

export function decodeSegment(segment: string): string {
  const decoded = decodeURIComponent(segment);
  return decoded === '\u0000' ? '' : decoded;
}

function hex(byte: number): string {
  return `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** ISO 8601 basic format, UTC, with milliseconds: 20261126T075012.123Z (no ':' in keys and URLs). */
export function compactTime(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '');
}

const COMPACT_TIME = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z$/;

/** compactTime's text back to a date; undefined for anything else. */
export function parseCompactTime(text: string): Date | undefined {
  const m = COMPACT_TIME.exec(text);
  if (m === null) return undefined;
  const date = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

export function archiveKey(schedule: string, src: string, dst: string, test: string, time: Date): string {
  const iso = time.toISOString();
  const [yyyy, mm, dd] = [iso.slice(0, 4), iso.slice(5, 7), iso.slice(8, 10)];
  return [
    'archives',
    encodeSegment(schedule),
    yyyy,
    mm,
    dd,
    encodeSegment(src),
    encodeSegment(dst),
    `${test}-${compactTime(time)}.flent.gz`,
  ].join('/');
}

export function resultKey(schedule: string, round: string, src: string, dst: string): string {
  return [
    'results',
    encodeSegment(schedule),
    encodeSegment(round),
    encodeSegment(src),
    `${encodeSegment(dst)}.json`,
  ].join('/');
}

export function resultPrefix(schedule: string, round: string): string {
  return `results/${encodeSegment(schedule)}/${encodeSegment(round)}/`;
}

/** The pair's running state across rounds (its last success), one small object per pair. */
export function pairStateKey(schedule: string, src: string, dst: string): string {
  return `pairs/${encodeSegment(schedule)}/${encodeSegment(src)}/${encodeSegment(dst)}.json`;
}

/** When plan last pruned the Pushgateway's groups of gone nodes and schedules. */
export const PRUNED_AT_KEY = 'state/gateway-pruned.json';

/** Results whose metrics the Pushgateway did not take: the next probe run pushes them. */
export const METRICS_PENDING_PREFIX = 'metrics-pending/';

export function metricsPendingKey(schedule: string, src: string, dst: string): string {
  return `${METRICS_PENDING_PREFIX}${encodeSegment(schedule)}/${encodeSegment(src)}/${encodeSegment(dst)}.json`;
}

/** A disjoint round's solo check: the pair's test alone and its ratios (layers/domain/solo.ts). */
export function soloKey(schedule: string, round: string): string {
  return `solo/${encodeSegment(schedule)}/${encodeSegment(round)}.json`;
}

export function roundKey(schedule: string, round: string): string {
  return `rounds/${encodeSegment(schedule)}/${encodeSegment(round)}.json`;
}

export function roundPrefix(schedule: string): string {
  return `rounds/${encodeSegment(schedule)}/`;
}

/** Which round of a schedule is the newest: plan writes it when it opens one (no listing of months of rounds). */
export function latestRoundKey(schedule: string): string {
  return `state/latest-round/${encodeSegment(schedule)}.json`;
}

/**
 * A round's per-pair state, beside its manifest (layers/pipeline/round.ts):
 * its pair list (`~plan.json`, written once), one small object per event of
 * a pair (`<src>/<dst>/<time>.<state>.json`) and of the solo check
 * (`~solo/<time>.<state>.json`). '~' never comes out of encodeSegment, so
 * no node name meets those two.
 */
export function roundPairsPrefix(schedule: string, round: string): string {
  return `round-pairs/${encodeSegment(schedule)}/${encodeSegment(round)}/`;
}

/** Media type and file name of one file of a graph set. */
export interface GraphFileSpec {
  /** The file name inside the set's folder. */
  name: string;
  contentType: string;
}

/** The graph itself, one file per format. */
export const GRAPH_FORMATS = {
  dot: { name: 'graph.dot', contentType: 'text/vnd.graphviz; charset=utf-8' },
  svg: { name: 'graph.svg', contentType: 'image/svg+xml' },
  graphml: { name: 'graph.graphml', contentType: 'application/graphml+xml' },
  json: { name: 'graph.json', contentType: 'application/json' },
} as const satisfies Record<string, GraphFileSpec>;
export type GraphFormat = keyof typeof GRAPH_FORMATS;

/** The zone-level view (layers/graph/zones.ts), one file per format, beside the node-level graph. */
export const ZONE_FORMATS = {
  'zones-dot': { name: 'graph-zones.dot', contentType: GRAPH_FORMATS.dot.contentType },
  'zones-svg': { name: 'graph-zones.svg', contentType: GRAPH_FORMATS.svg.contentType },
  'zones-graphml': { name: 'graph-zones.graphml', contentType: GRAPH_FORMATS.graphml.contentType },
  'zones-json': { name: 'graph-zones.json', contentType: GRAPH_FORMATS.json.contentType },
} as const satisfies Record<`zones-${GraphFormat}`, GraphFileSpec>;
export type ZoneFile = keyof typeof ZONE_FORMATS;

/**
 * Every file of a graph set, in the order render writes them (graph.json
 * before the matrices): the one list of names and media types that render
 * stores, the graph API serves and the graph layer renders (it checks at
 * compile time that there is a matrix file per metric).
 */
export const GRAPH_SET_FILES = {
  ...GRAPH_FORMATS,
  'matrix-latency': { name: 'matrix-latency.svg', contentType: 'image/svg+xml' },
  'matrix-throughput': { name: 'matrix-throughput.svg', contentType: 'image/svg+xml' },
  'matrix-loss': { name: 'matrix-loss.svg', contentType: 'image/svg+xml' },
  ...ZONE_FORMATS,
} as const satisfies Record<string, GraphFileSpec>;
export type GraphSetFile = keyof typeof GRAPH_SET_FILES;

export const GRAPHS_PREFIX = 'graphs/';

/** The folder of a graph set: graphs/latest/ or graphs/<time>/. */
export function graphSetPrefix(set: 'latest' | Date): string {
  return `${GRAPHS_PREFIX}${set === 'latest' ? 'latest' : compactTime(set)}/`;
}

/** graphs/<set>/<file name>. */
export function graphKey(set: 'latest' | Date, file: GraphSetFile): string {
  return `${graphSetPrefix(set)}${GRAPH_SET_FILES[file].name}`;
}
