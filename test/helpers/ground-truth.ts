/** Checks of measured figures against what the rig injected. */

/** The central interval holding `level` of Binomial(n, p): [lo, hi] with at most (1-level)/2 below lo and above hi. */
export function binomialInterval(n: number, p: number, level: number): [number, number] {
  if (p === 0) return [0, 0];
  const tail = (1 - level) / 2;
  const logPmf = (k: number): number => {
    let logChoose = 0;
    for (let i = 1; i <= k; i++) logChoose += Math.log((n - k + i) / i);
    return logChoose + k * Math.log(p) + (n - k) * Math.log1p(-p);
  };
  const pmf = Array.from({ length: n + 1 }, (_, k) => Math.exp(logPmf(k)));
  let lo = 0;
  for (let below = 0; below + (pmf[lo] as number) <= tail; lo++) below += pmf[lo] as number;
  let hi = n;
  for (let above = 0; above + (pmf[hi] as number) <= tail; hi--) above += pmf[hi] as number;
  return [lo, hi];
}
