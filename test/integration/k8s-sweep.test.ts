import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART_NAMESPACE, S3_CREDENTIALS_SECRET } from '../../infra/cluster/cluster.ts';
import { waitFor } from '../../layers/core/process.ts';
import { orderedPairs } from '../../layers/domain/pairs.ts';
import { LABELS, RUN_AS_USER, SWEEP_MANAGED_BY } from '../../layers/k8s/pods.ts';
import { querySweepPairs } from '../../layers/metrics/sweep.ts';
import type { SweepReport } from '../../layers/pipeline/sweep.ts';
import { CLUSTER_UP_MS, startCluster, type TestCluster } from '../helpers/cluster.ts';
import { startSweep } from '../helpers/probes.ts';

/**
 * The sweep on the local real cluster (real kubelets and containerd, the
 * Flent image): one pod per node, each reporting every peer, all deleted.
 * node-1 -> node-3 is cut by the rig.
 */
const PAIRS = orderedPairs(['node-1', 'node-2', 'node-3']).map((p) => `${p.src}>${p.dst}`);

let cluster: TestCluster;
let env: NodeJS.ProcessEnv;

async function sweepPods(): Promise<V1Pod[]> {
  const pods = await cluster.core.listNamespacedPod({
    namespace: CHART_NAMESPACE,
    labelSelector: `${LABELS.managedBy}=${SWEEP_MANAGED_BY}`,
  });
  return pods.items;
}

beforeAll(async () => {
  cluster = await startCluster({ nodes: 3, cuts: [['node-1', 'node-3']] });
  const { endpoints } = cluster.info;
  const secret = await cluster.core.readNamespacedSecret({
    name: S3_CREDENTIALS_SECRET,
    namespace: CHART_NAMESPACE,
  });
  const credentials = Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString()]),
  );
  env = {
    PATH: process.env.PATH,
    LOG_LEVEL: 'warn',
    KUBECONFIG: cluster.info.kubeconfig,
    NETMON_RUNNER: 'kubernetes',
    NETMON_NAMESPACE: CHART_NAMESPACE,
    NETMON_IMAGE: cluster.flentImage,
    NETMON_PUSHGATEWAY_URL: endpoints.pushgateway,
    NETMON_S3_BUCKET: endpoints.s3Bucket,
    NETMON_S3_ENDPOINT: endpoints.s3,
    ...credentials,
  };
}, CLUSTER_UP_MS);

afterAll(async () => {
  await cluster?.down();
}, 180_000);

describe('sweep in a cluster', () => {
  it('runs one hardened pod per node, reports every ordered pair (the cut one unreachable), deletes its pods', async () => {
    const sweep = startSweep(env);
    const seen = new Map<string, V1Pod>();
    await waitFor(
      'a sweep pod on every node',
      async () => {
        for (const pod of await sweepPods()) seen.set(pod.spec?.nodeName ?? '', pod);
        return seen.size === 3;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    const result = await sweep.done;
    expect(result.exitCode, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as SweepReport;
    expect(report).toMatchObject({
      nodes: 3,
      pairs: 6,
      failedSources: [],
      unreachable: [{ src: 'node-1', dst: 'node-3' }],
    });
    expect([...seen.keys()].sort()).toEqual(['node-1', 'node-2', 'node-3']);
    for (const pod of seen.values()) {
      expect(pod.spec?.hostNetwork).toBe(true);
      expect(pod.spec?.automountServiceAccountToken).toBe(false);
      expect(pod.spec?.containers[0]?.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: RUN_AS_USER,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
    }
    expect(await sweepPods()).toEqual([]);

    const prometheus = cluster.info.endpoints.prometheus ?? '';
    await waitFor(
      '6 swept pairs in Prometheus',
      async () => (await querySweepPairs(prometheus)).length === 6,
      {
        timeoutMs: 30_000,
        intervalMs: 250,
      },
    );
    const pairs = await querySweepPairs(prometheus);
    expect(pairs.map((p) => `${p.src}>${p.dst}`)).toEqual(PAIRS);
    for (const pair of pairs) {
      const cut = pair.src === 'node-1' && pair.dst === 'node-3';
      expect(pair, `${pair.src}>${pair.dst}`).toMatchObject({
        connectivity: cut ? 0 : 1,
        sent: 10,
        received: cut ? 0 : 10,
      });
    }
  }, 120_000);
});
