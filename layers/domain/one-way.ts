import { type ClockState, ONE_WAY_TRUST_SHARE, oneWayTrust, publishedOneWayDelay } from './clock.ts';
import { type FlentSummary, type FlowDirection, latencyProbes, oneWayFlows, probeName } from './figures.ts';
import { headlineProbe } from './headline.ts';

/**
 * The one-way figures of a test as they are published (record, metrics,
 * graph, summary.json): per direction of data flow the median one-way delay
 * and the loss, always beside the bound of the clocks' error and whether
 * that bound makes the delays trustworthy. A negative median (a clock
 * offset, not a delay) is never published; the offset it implies is, as an
 * offset, for the closure check below.
 */

/** Each end's clock as read during the test; null when it could not be read. */
export interface TestClocks {
  src: ClockState | null;
  dst: ClockState | null;
}

export interface PublishedOneWay {
  /** The irtt probe the figures come from ("udp"). */
  probe: string;
  /** Packets the client sent: the loss ratios' denominator. */
  packetsSent: number;
  /** Median one-way delay per direction of data flow (src_to_dst is irtt's "up"); null when negative or unmeasured. */
  delaySeconds: Record<FlowDirection, number | null>;
  lossRatio: Record<FlowDirection, number | null>;
  /**
   * dst's clock minus src's as the two medians imply it, assuming a path as
   * long in both directions: (up - down) / 2. May be negative.
   */
  clockOffsetSeconds: number | null;
  /** Both ends' bounds added (0 when both read one clock); null when unknown. */
  clockErrorBoundSeconds: number | null;
  trusted: boolean;
  /** Why trusted or not, in words. */
  trustReason: string;
}

/** Two readings of one clock (start and end of a test) as one: the worse of both. */
export function worseClock(a: ClockState | null, b: ClockState | null): ClockState | null {
  if (a === null || b === null) return a ?? b;
  return {
    clockId: a.clockId === b.clockId ? a.clockId : null,
    synchronised: a.synchronised && b.synchronised,
    errorBoundSeconds:
      a.errorBoundSeconds === null || b.errorBoundSeconds === null
        ? null
        : Math.max(a.errorBoundSeconds, b.errorBoundSeconds),
    source: b.source,
  };
}

/** The published one-way figures of a test's headline irtt probe; null for tests without one-way series. */
export function publishedOneWay(
  summary: FlentSummary | null,
  clocks: TestClocks | null,
): PublishedOneWay | null {
  if (summary === null) return null;
  const flows = oneWayFlows(summary);
  const probe = headlineProbe(new Set(flows.map((f) => f.probe)));
  if (probe === undefined) return null;
  const leg = (direction: FlowDirection) =>
    flows.find((f) => f.probe === probe && f.direction === direction)?.leg;
  const up = leg('src_to_dst');
  const down = leg('dst_to_src');
  const series = Object.entries(summary.oneWay ?? {}).find(([name]) => probeName(name) === probe);
  const minRtt = latencyProbes(summary).find((p) => p.probe === probe)?.stats.min ?? null;
  const trust = oneWayTrust(clocks?.src ?? undefined, clocks?.dst ?? undefined, minRtt);
  const upMedian = up?.median ?? null;
  const downMedian = down?.median ?? null;
  return {
    probe,
    packetsSent: series?.[1].packetsSent ?? 0,
    delaySeconds: {
      src_to_dst: publishedOneWayDelay(upMedian),
      dst_to_src: publishedOneWayDelay(downMedian),
    },
    lossRatio: { src_to_dst: up?.lossRatio ?? null, dst_to_src: down?.lossRatio ?? null },
    clockOffsetSeconds: upMedian === null || downMedian === null ? null : (upMedian - downMedian) / 2,
    clockErrorBoundSeconds: trust.errorBoundSeconds,
    trusted: trust.trusted,
    trustReason: trust.reason,
  };
}

/** The implied clock offset of one ordered pair: dst's clock minus src's. */
export interface PairOffset {
  src: string;
  dst: string;
  clockOffsetSeconds: number;
  /** The pair's smallest round trip, for the closure's tolerance; null when unknown. */
  minRttSeconds: number | null;
}

/**
 * Residuals below this never flag a node: the medians' own noise. Each offset
 * comes from a different test, minutes apart; userland timestamps (irtt) and
 * a busy host move a median by tens to a couple of hundred microseconds
 * (the rig's delay line alone by 0.02-0.08 ms, more under load).
 */
export const CLOSURE_FLOOR_SECONDS = 250e-6;

export interface NodeClosure {
  node: string;
  /** The largest |offset(A,B) + offset(B,C) + offset(C,A)| over the triangles through the node. */
  residualSeconds: number;
  /** The triangle with that residual. */
  triangle: [string, string, string];
  /** A triangle through the node does not close: its residual exceeds max(CLOSURE_FLOOR_SECONDS, ONE_WAY_TRUST_SHARE of its smallest min RTT / 2). */
  flagged: boolean;
  /** Measured triangles through the node, and how many of them do not close: a node whose own clock or paths are at fault fails them all. */
  triangles: number;
  failingTriangles: number;
}

/**
 * The offsets' closure without any reference clock: around any three nodes
 * the clock offsets the pairs imply must add up to zero, since each clock is
 * added once and subtracted once. A per-node egress delay cancels too (it
 * adds d(A) - d(B) to one pair's offset and d(B) - d(C), d(C) - d(A) to the
 * others'); what remains is a path that is longer one way than the other, or
 * a clock that moved during the tests. Nodes in no measured triangle are left out.
 */
export function clockClosure(offsets: readonly PairOffset[]): NodeClosure[] {
  const offset = pairOffsets(offsets);
  const nodes = [...new Set(offsets.flatMap((o) => [o.src, o.dst]))].sort();
  const closures = new Map<string, NodeClosure>();
  for (const triangle of triangles(nodes)) {
    const [a, b, c] = triangle;
    const legs = [offset(a, b), offset(b, c), offset(c, a)];
    if (!legs.every((leg) => leg !== undefined)) continue;
    const residual = Math.abs(legs.reduce((sum, leg) => sum + leg.seconds, 0));
    const flagged = residual > closureTolerance(legs.map((leg) => leg.minRtt));
    for (const node of triangle) {
      const closure = closures.get(node) ?? {
        node,
        residualSeconds: -1,
        triangle,
        flagged: false,
        triangles: 0,
        failingTriangles: 0,
      };
      closure.triangles += 1;
      if (flagged) {
        closure.failingTriangles += 1;
        closure.flagged = true;
      }
      if (residual > closure.residualSeconds) {
        closure.residualSeconds = residual;
        closure.triangle = triangle;
      }
      closures.set(node, closure);
    }
  }
  return [...closures.values()].sort((x, y) => x.node.localeCompare(y.node));
}

interface OffsetEstimate {
  seconds: number;
  minRtt: number | null;
}

/** offset(a, b): b's clock minus a's, the mean of both tests' estimates (B->A's with the sign turned). */
function pairOffsets(offsets: readonly PairOffset[]): (a: string, b: string) => OffsetEstimate | undefined {
  const estimates = new Map<string, { sum: number; count: number; minRtt: number | null }>();
  const keyOf = (a: string, b: string): string => JSON.stringify(a < b ? [a, b] : [b, a]);
  for (const o of offsets) {
    if (!Number.isFinite(o.clockOffsetSeconds)) continue;
    const key = keyOf(o.src, o.dst);
    const entry = estimates.get(key) ?? { sum: 0, count: 0, minRtt: null };
    entry.sum += o.src < o.dst ? o.clockOffsetSeconds : -o.clockOffsetSeconds;
    entry.count += 1;
    if (o.minRttSeconds !== null) entry.minRtt = Math.min(entry.minRtt ?? Infinity, o.minRttSeconds);
    estimates.set(key, entry);
  }
  return (a, b) => {
    const entry = estimates.get(keyOf(a, b));
    if (entry === undefined) return undefined;
    const mean = entry.sum / entry.count;
    return { seconds: a < b ? mean : -mean, minRtt: entry.minRtt };
  };
}

function* triangles(nodes: readonly string[]): Generator<[string, string, string]> {
  for (let i = 0; i < nodes.length; i++)
    for (let j = i + 1; j < nodes.length; j++)
      for (let k = j + 1; k < nodes.length; k++)
        yield [nodes[i] as string, nodes[j] as string, nodes[k] as string];
}

function closureTolerance(minRtts: ReadonlyArray<number | null>): number {
  const known = minRtts.filter((rtt): rtt is number => rtt !== null);
  const share = known.length === 0 ? 0 : (ONE_WAY_TRUST_SHARE * Math.min(...known)) / 2;
  return Math.max(CLOSURE_FLOOR_SECONDS, share);
}
