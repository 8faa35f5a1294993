import { ApiException, type CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../layers/core/process.ts';
import { runShutdownCleanups } from '../../layers/core/shutdown.ts';
import { DEFAULT_SERVER_PORTS } from '../../layers/domain/test-types.ts';
import { KubernetesRunner } from '../../layers/k8s/runner.ts';

/**
 * A probe killed mid-test (SIGTERM: its Job deleted, as `helm uninstall`
 * does) exits before the runner's `finally`: the test pods outlived the
 * release on the local real cluster (test/integration/chart-install.test.ts).
 * They are owned by the probe's pod, so the garbage collector deletes them
 * (uninstall removes the probe's RBAC at the same moment, so its own deletes
 * can be refused), and the shutdown cleanup deletes them when it still may.
 */
describe('Kubernetes runner on shutdown', () => {
  it('owns the test pods by its pod and deletes those of the running test; a finished test leaves no cleanup', async () => {
    const created: string[] = [];
    const deleted: string[] = [];
    const owners: unknown[] = [];
    const notFound = () => new ApiException(404, 'not found', '', {});
    const core = {
      createNamespacedPod: async ({ body }: { body: V1Pod }) => {
        created.push(body.metadata?.name ?? '');
        owners.push(body.metadata?.ownerReferences ?? []);
        return body;
      },
      // The probe's own pod; the server pod stays Pending until it is deleted.
      readNamespacedPod: async ({ name }: { name: string }) => {
        if (name === 'netmon-probe-1') return { metadata: { name, uid: 'probe-uid' } };
        if (deleted.includes(name)) throw notFound();
        return { status: { phase: 'Pending' } };
      },
      deleteNamespacedPod: async ({ name }: { name: string }) => {
        if (deleted.includes(name)) throw notFound();
        deleted.push(name);
        return {};
      },
      // The test's nodes, looked at while its pods are waited for: both Ready.
      listNode: async () => ({ items: [{ status: { conditions: [{ type: 'Ready', status: 'True' }] } }] }),
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
      ownerPodName: 'netmon-probe-1',
      pollMs: 10,
    });
    const running = runner.run({
      src: { name: 'node-1', address: '10.0.0.1' },
      dst: { name: 'node-2', address: '10.0.0.2' },
      test: 'tcp_upload',
      lengthSeconds: 2,
    });
    await waitFor('the server pod', () => created.length === 1);
    // Owned by the probe's pod: the garbage collector deletes them with it, RBAC or not.
    expect(owners).toEqual([[{ apiVersion: 'v1', kind: 'Pod', name: 'netmon-probe-1', uid: 'probe-uid' }]]);
    await runShutdownCleanups();
    expect(deleted).toEqual(created);
    const outcome = await running;
    expect(outcome.ok).toBe(false);
    // The test is over: a later shutdown has nothing of it to delete.
    const before = deleted.length;
    await runShutdownCleanups();
    expect(deleted).toHaveLength(before);
  });
});
