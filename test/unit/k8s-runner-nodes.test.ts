import { ApiException, type CoreV1Api, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../layers/core/process.ts';
import { isNetworkFailure } from '../../layers/domain/outcome.ts';
import { DEFAULT_SERVER_PORTS } from '../../layers/domain/test-types.ts';
import { KubernetesRunner } from '../../layers/k8s/runner.ts';

/**
 * A node of the test deleted, or not Ready, while its test runs: the pods
 * on it cannot say that they ended (no kubelet), so the runner must not wait
 * for the client pod's deadline and then call it a network timeout. The
 * real cluster's case (a kubelet killed, its Node deleted, mid-round) is in
 * test/integration/k8s-pipeline.test.ts.
 */
function fakeCluster() {
  const pods = new Map<string, V1Pod>();
  const deletions: Array<{ name: string; grace: number | undefined }> = [];
  const nodes = new Map<string, 'True' | 'Unknown'>([
    ['node-1', 'True'],
    ['node-2', 'True'],
  ]);
  const notFound = () => new ApiException(404, 'not found', '', {});
  const core = {
    createNamespacedPod: async ({ body }: { body: V1Pod }) => {
      // Running at once, ready, and never ending: the client pod stays Running until deleted.
      pods.set(body.metadata?.name ?? '', {
        ...body,
        status: { phase: 'Running', containerStatuses: [{ name: 'x', ready: true } as never] },
      });
      return body;
    },
    readNamespacedPod: async ({ name }: { name: string }) => {
      const pod = pods.get(name);
      if (pod === undefined) throw notFound();
      return pod;
    },
    deleteNamespacedPod: async ({
      name,
      gracePeriodSeconds,
    }: {
      name: string;
      gracePeriodSeconds?: number;
    }) => {
      if (!pods.delete(name)) throw notFound();
      deletions.push({ name, grace: gracePeriodSeconds });
      return {};
    },
    listNode: async ({ fieldSelector }: { fieldSelector: string }) => {
      const name = fieldSelector.replace('metadata.name=', '');
      const ready = nodes.get(name);
      const items: V1Node[] =
        ready === undefined
          ? []
          : [{ metadata: { name }, status: { conditions: [{ type: 'Ready', status: ready }] } }];
      return { items };
    },
  } as unknown as CoreV1Api;
  const runner = new KubernetesRunner(core, {
    namespace: 'netmon',
    image: 'ghcr.io/erigrid/k8s-netmon:0.1.0',
    hostNetwork: true,
    s3Env: { NETMON_S3_BUCKET: 'netmon' },
    agentCommand: ['node', '/opt/netmon/agent.js'],
    slackSeconds: 60,
    ports: DEFAULT_SERVER_PORTS,
    serverReadyTimeoutSeconds: 60,
    pollMs: 10,
  });
  const run = () =>
    runner.run({
      src: { name: 'node-1', address: '10.0.0.1' },
      dst: { name: 'node-2', address: '10.0.0.2' },
      test: 'ping',
      lengthSeconds: 30,
    });
  return { pods, deletions, nodes, run };
}

describe('Kubernetes runner: a node lost mid-test', () => {
  it('a Node deleted: a tool-error naming it within seconds, not a timeout; its pod deleted at once', async () => {
    const cluster = fakeCluster();
    const running = cluster.run();
    await waitFor('the client pod', () => cluster.pods.size === 2);
    const lostAt = Date.now();
    cluster.nodes.delete('node-2');
    const outcome = await running;
    expect(Date.now() - lostAt).toBeLessThan(5000);
    if (outcome.ok) throw new Error('measured, though its dst node was deleted');
    expect(outcome.failure.reason).toBe('tool-error');
    expect(isNetworkFailure(outcome.failure.reason)).toBe(false);
    expect(outcome.failure.message).toBe(
      'node node-2 is gone (found while the test ran): the test measured nothing',
    );
    // The server pod (on node-2) has no kubelet to confirm: grace 0; the client's kubelet stops it.
    const graces = Object.fromEntries(cluster.deletions.map((d) => [d.name.slice(0, 11), d.grace]));
    expect(graces).toEqual({ 'netmon-srv-': 0, 'netmon-cli-': undefined });
    expect(cluster.pods.size).toBe(0);
  }, 15_000);

  it('a node not Ready (its kubelet stopped): a tool-error naming it; its pods deleted as usual', async () => {
    const cluster = fakeCluster();
    const running = cluster.run();
    await waitFor('the client pod', () => cluster.pods.size === 2);
    cluster.nodes.set('node-1', 'Unknown');
    const outcome = await running;
    if (outcome.ok) throw new Error('measured, though its src node was not Ready');
    expect(outcome.failure.reason).toBe('tool-error');
    expect(outcome.failure.message).toBe(
      'node node-1 is not Ready (found while the test ran): the test measured nothing',
    );
    expect(cluster.deletions.map((d) => d.grace)).toEqual([undefined, undefined]);
  }, 15_000);
});
