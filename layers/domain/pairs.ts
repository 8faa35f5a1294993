/** An ordered pair of nodes: probes or data flow from src to dst. */
export interface Pair {
  src: string;
  dst: string;
}

export function pairKey(pair: Pair): string {
  return `${pair.src}>${pair.dst}`;
}

/** Every ordered pair of distinct nodes, n * (n - 1) of them, in node order. */
export function orderedPairs(nodes: readonly string[]): Pair[] {
  const pairs: Pair[] = [];
  for (const src of nodes) {
    for (const dst of nodes) if (src !== dst) pairs.push({ src, dst });
  }
  return pairs;
}

/**
 * Reorders pairs (given in priority order, e.g. stalest first) so that
 * consecutive tests share no node when that is avoidable: a node that just
 * served a test gets a rest, and no node's figures depend on the previous
 * test's leftovers.
 */
export function spreadPairs(pairs: readonly Pair[]): Pair[] {
  const remaining = [...pairs];
  const ordered: Pair[] = [];
  let previous: Pair | undefined;
  while (remaining.length > 0) {
    const index = previous === undefined ? 0 : nextIndex(remaining, previous);
    const [next] = remaining.splice(index, 1);
    if (next === undefined) break;
    ordered.push(next);
    previous = next;
  }
  return ordered;
}

function disjoint(p: Pair, q: Pair): boolean {
  return p.src !== q.src && p.src !== q.dst && p.dst !== q.src && p.dst !== q.dst;
}

/**
 * Among the pairs that share no node with `previous`, the one whose nodes have
 * the most pairs left (so that no node is left with a pile of pairs at the end
 * of the round, where they could only run back to back); ties go to priority
 * order. When every remaining pair shares a node, the first one.
 */
function nextIndex(remaining: readonly Pair[], previous: Pair): number {
  const load = new Map<string, number>();
  for (const pair of remaining) {
    load.set(pair.src, (load.get(pair.src) ?? 0) + 1);
    load.set(pair.dst, (load.get(pair.dst) ?? 0) + 1);
  }
  let best = 0;
  let bestScore = -1;
  for (const [i, candidate] of remaining.entries()) {
    if (!disjoint(candidate, previous)) continue;
    const score = (load.get(candidate.src) ?? 0) + (load.get(candidate.dst) ?? 0);
    if (score > bestScore) {
      best = i;
      bestScore = score;
    }
  }
  return best;
}
