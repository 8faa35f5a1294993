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

/**
 * A disjoint round's slots: every ordered pair exactly once, each slot a set
 * of pairs that share no node, by the circle method of round-robin
 * tournaments: N - 1 rounds of N / 2 node-disjoint pairs (N odd: a rest for
 * one node per round, N rounds), each round once in each direction: 2(N - 1)
 * slots (2N for odd N). A slot larger than maxParallel is split.
 */
export function disjointSlots(nodes: readonly string[], maxParallel = Number.POSITIVE_INFINITY): Pair[][] {
  if (!(maxParallel >= 1)) throw new RangeError(`maxParallel must be at least 1, not ${maxParallel}`);
  const players: Array<string | null> = [...nodes];
  if (players.length % 2 === 1) players.push(null);
  const fixed = players.length - 1;
  const rotating = players.length - 1;
  const slots: Pair[][] = [];
  for (let round = 0; round < rotating; round++) {
    const at = (i: number): string | null => players[i] ?? null;
    const matches: Array<[string | null, string | null]> = [[at(round), at(fixed)]];
    for (let k = 1; k < players.length / 2; k++)
      matches.push([at((round + k) % rotating), at((round - k + rotating) % rotating)]);
    const real = matches.filter((m): m is [string, string] => m[0] !== null && m[1] !== null);
    // Alternate the first direction so that no node always sends first.
    const forward = real.map(([a, b]) => (round % 2 === 0 ? { src: a, dst: b } : { src: b, dst: a }));
    const backward = forward.map(({ src, dst }) => ({ src: dst, dst: src }));
    for (const slot of [forward, backward])
      for (let i = 0; i < slot.length; i += maxParallel) slots.push(slot.slice(i, i + maxParallel));
  }
  return slots.filter((slot) => slot.length > 0);
}
