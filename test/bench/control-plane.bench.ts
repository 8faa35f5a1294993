/** The test control plane (kube-apiserver + etcd, cached build): warm start to ready; the target is under 30 s. */
import { startControlPlane } from '../../infra/cluster/control-plane.ts';
import { line, median } from './report.ts';

export default async function controlPlane(): Promise<void> {
  // The first start may build the binaries (minutes when cold); it is not counted.
  await (await startControlPlane()).stop();
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    const plane = await startControlPlane();
    times.push(performance.now() - started);
    await plane.stop();
  }
  const ms = median(times);
  line(
    'control plane warm start to ready, median of 3',
    `${(ms / 1000).toFixed(1)} s (target < 30 s: ${ms < 30_000 ? 'met' : 'MISSED'})`,
  );
}
