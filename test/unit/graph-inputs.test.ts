import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphInputsFrom } from '../../layers/wiring/context.ts';

/**
 * Where render and the graph API get node addresses and zones: in a cluster
 * (NETMON_RUNNER=kubernetes, as the chart's ConfigMap says) from the API's
 * nodes, as plan does; without it a chart install drew every address as "-".
 */
let server: Server;
let dir: string;
const requests: string[] = [];

const NODE_LIST = {
  kind: 'NodeList',
  apiVersion: 'v1',
  metadata: {},
  items: [
    {
      metadata: { name: 'node-1', labels: { 'topology.kubernetes.io/zone': 'zone-a' } },
      status: {
        addresses: [{ type: 'InternalIP', address: '198.18.0.10' }],
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    },
  ],
};

beforeAll(async () => {
  server = createServer((request, response) => {
    requests.push(request.url ?? '');
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(NODE_LIST));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  dir = await mkdtemp(join(tmpdir(), 'netmon-graph-inputs-'));
  await writeFile(
    join(dir, 'kubeconfig'),
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'c', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } },
      ],
      users: [{ name: 'u', user: { token: 'token' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'c',
    }),
  );
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('graph inputs', () => {
  const base = { NETMON_PROMETHEUS_URL: 'http://127.0.0.1:9090', NETMON_CLUSTER_NAME: 'local' };

  it('in a cluster: the nodes of the API (selected as for plan) with their addresses and labels', async () => {
    const inputs = graphInputsFrom({
      ...base,
      NETMON_RUNNER: 'kubernetes',
      NETMON_NODE_SELECTOR: '{"topology.kubernetes.io/zone":"zone-a"}',
      KUBECONFIG: join(dir, 'kubeconfig'),
    });
    expect(await inputs.nodes?.list()).toEqual([
      {
        name: 'node-1',
        address: '198.18.0.10',
        ready: true,
        labels: { 'topology.kubernetes.io/zone': 'zone-a' },
      },
    ]);
    expect(requests.at(-1)).toBe('/api/v1/nodes?labelSelector=topology.kubernetes.io%2Fzone%3Dzone-a');
  });

  it('without a cluster or a node file: no node list (the names in the metrics)', () => {
    expect(graphInputsFrom(base).nodes).toBeUndefined();
  });
});
