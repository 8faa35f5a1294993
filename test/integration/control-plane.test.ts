import { access } from 'node:fs/promises';
import { request } from 'node:https';
import {
  ApiException,
  ApiextensionsV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  RbacAuthorizationV1Api,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, helmBinary, startControlPlane } from '../../infra/cluster/control-plane.ts';
import { runChecked, waitFor } from '../../layers/core/process.ts';

/**
 * The real control plane (embedded etcd + kube-apiserver from the upstream Go
 * modules): start-up, RBAC with service-account tokens, node status, CRDs,
 * helm. No controller-manager runs, so nothing here waits for a controller.
 */

// A cold build of the control-plane binary (no Go build cache) takes many
// minutes on 2 cores; a cached one starts in seconds. The hook allows for the cold build.
const COLD_BUILD_HOOK_TIMEOUT_MS = 40 * 60_000;

let cp: ControlPlane;
let core: CoreV1Api;
const ns = 'netmon-cp-test';

/** GET a raw path with the kubeconfig's credentials: status and body. */
async function getRaw(kc: KubeConfig, path: string): Promise<{ status: number; body: string }> {
  const url = new URL(path, kc.getCurrentCluster()?.server);
  const options: Parameters<typeof request>[1] = { method: 'GET' };
  await kc.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The HTTP status of a failed API call (ApiException), or rethrows. */
async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

describe('control plane (etcd + kube-apiserver from Go modules)', () => {
  beforeAll(async () => {
    cp = await startControlPlane();
    core = cp.kubeconfig.makeApiClient(CoreV1Api);
  }, COLD_BUILD_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await cp?.stop();
  }, 60_000);

  it('answers /readyz ok to the admin kubeconfig', async () => {
    expect(cp.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await getRaw(cp.kubeconfig, '/readyz')).toEqual({ status: 200, body: 'ok' });
    const version = JSON.parse((await getRaw(cp.kubeconfig, '/version')).body) as { gitVersion: string };
    expect(version.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
  });

  it('stores a namespace and a config map', async () => {
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'settings' }, data: { schedule: '*/5 * * * *' } },
    });
    const read = await core.readNamespacedConfigMap({ namespace: ns, name: 'settings' });
    expect(read.data).toEqual({ schedule: '*/5 * * * *' });
  });

  it('accepts a node and its Ready condition through the status subresource', async () => {
    const name = 'sim-node-1';
    await core.createNode({
      body: { metadata: { name, labels: { 'topology.kubernetes.io/zone': 'zone-a' } } },
    });
    const node = await core.readNode({ name });
    const now = new Date();
    node.status = {
      addresses: [{ type: 'InternalIP', address: '198.18.0.11' }],
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'simulated',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
    };
    await core.replaceNodeStatus({ name, body: node });
    const read = await core.readNode({ name });
    expect(read.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(read.status?.addresses).toEqual([{ type: 'InternalIP', address: '198.18.0.11' }]);
    expect(read.metadata?.labels?.['topology.kubernetes.io/zone']).toBe('zone-a');
  });

  it('enforces RBAC for a service-account token from the TokenRequest API', async () => {
    const rbac = cp.kubeconfig.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'reader' } } });
    const tokenRequest = await core.createNamespacedServiceAccountToken({
      namespace: ns,
      name: 'reader',
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = tokenRequest.status?.token;
    expect(token).toBeTruthy();
    const saConfig = cp.withToken(token ?? '');

    const review = await saConfig.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${ns}:reader`);

    const saCore = saConfig.makeApiClient(CoreV1Api);
    expect(await statusOf(saCore.listNamespacedPod({ namespace: ns }))).toBe(403);

    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: 'pod-reader' },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'reader-reads-pods' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }],
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
      },
    });
    // The authorizer reads roles from an informer: the binding applies within moments.
    await waitFor('the role binding to apply', async () => {
      return (await statusOf(saCore.listNamespacedPod({ namespace: ns }))) === 200;
    });
    const pods = await saCore.listNamespacedPod({ namespace: ns });
    expect(pods.items).toEqual([]);
    // Only what the role allows, only in its namespace.
    expect(await statusOf(saCore.listNamespacedPod({ namespace: 'default' }))).toBe(403);
    expect(await statusOf(saCore.listNamespacedConfigMap({ namespace: ns }))).toBe(403);
  });

  it('serves a CustomResourceDefinition once it is Established', async () => {
    const group = 'test.k8s-netmon.io';
    const crd: V1CustomResourceDefinition = {
      metadata: { name: `probes.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'probes', singular: 'probe', kind: 'Probe', listKind: 'ProbeList' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: { type: 'object', properties: { cron: { type: 'string' } }, required: ['cron'] },
                },
              },
            },
          },
        ],
      },
    };
    const extensions = cp.kubeconfig.makeApiClient(ApiextensionsV1Api);
    await extensions.createCustomResourceDefinition({ body: crd });
    await waitFor(
      'the CRD to be Established',
      async () => {
        const read = await extensions.readCustomResourceDefinition({ name: `probes.${group}` });
        return read.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
      },
      { timeoutMs: 20_000 },
    );
    const objects = cp.kubeconfig.makeApiClient(CustomObjectsApi);
    // Discovery of a new group can lag the Established condition by a moment.
    await waitFor('the custom resource to be served', async () => {
      const status = await statusOf(
        objects.createNamespacedCustomObject({
          group,
          version: 'v1',
          namespace: ns,
          plural: 'probes',
          body: {
            apiVersion: `${group}/v1`,
            kind: 'Probe',
            metadata: { name: 'p1' },
            spec: { cron: '* * * * *' },
          },
        }),
      );
      return status === 200;
    });
    const read = (await objects.getNamespacedCustomObject({
      group,
      version: 'v1',
      namespace: ns,
      plural: 'probes',
      name: 'p1',
    })) as { spec?: { cron?: string } };
    expect(read.spec?.cron).toBe('* * * * *');
    // The schema is enforced.
    expect(
      await statusOf(
        objects.createNamespacedCustomObject({
          group,
          version: 'v1',
          namespace: ns,
          plural: 'probes',
          body: { apiVersion: `${group}/v1`, kind: 'Probe', metadata: { name: 'p2' }, spec: {} },
        }),
      ),
    ).toBe(422);
  });

  it('builds helm v3 from its Go module, and helm talks to the control plane', async () => {
    const helm = await helmBinary();
    const version = await runChecked([helm, 'version', '--short'], (message) => new Error(message));
    expect(version.trim()).toMatch(/^v3\.\d+\.\d+/);
    const releases = await runChecked(
      [helm, 'list', '--all-namespaces', '--output', 'json', '--kubeconfig', cp.kubeconfigPath],
      (message) => new Error(message),
    );
    expect(JSON.parse(releases)).toEqual([]);
  });

  it('stop() ends the process and removes the data dir', async () => {
    const { pid, dataDir } = cp;
    await cp.stop();
    expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    await expect(access(dataDir)).rejects.toMatchObject({ code: 'ENOENT' });
    // Idempotent.
    await cp.stop();
  });
});
