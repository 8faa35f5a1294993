import { ApiException, type CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { TestRequest } from '../../layers/domain/runner.ts';
import { DEFAULT_SERVER_PORTS, TEST_NAMES, type TestName } from '../../layers/domain/test-types.ts';
import {
  AGENT_MEMORY,
  agentMemoryLimitBytes,
  clientPod,
  type PodSettings,
  TEST_POD_RESOURCES,
} from '../../layers/k8s/pods.ts';
import { KubernetesRunner } from '../../layers/k8s/runner.ts';

/**
 * The agent's memory limit grows with its test: flent and its tools keep
 * every sample of the test until it ends, and the agent then parses the whole
 * archive. A fixed 256 MiB was enough for minutes, not for an hour
 * (layers/k8s/pods.ts AGENT_MEMORY has the figures).
 */

const MiB = 1024 * 1024;
const settings: PodSettings = {
  namespace: 'netmon',
  image: 'ghcr.io/erigrid/netmon-flent:0.1.0',
  hostNetwork: true,
  s3Env: { NETMON_S3_BUCKET: 'netmon' },
  agentCommand: ['node', '/opt/netmon/agent.js'],
  slackSeconds: 60,
  ports: DEFAULT_SERVER_PORTS,
};
const context = { schedule: 'hourly', round: '20261126T080000.000Z', runId: 'run-1' };

function request(test: TestName, lengthSeconds: number, delaySeconds?: number): TestRequest {
  return {
    src: { name: 'node-1', address: '10.0.0.1' },
    dst: { name: 'node-2', address: '10.0.0.2' },
    test,
    lengthSeconds,
    ...(delaySeconds === undefined ? {} : { delaySeconds }),
  };
}

function agentOf(pod: V1Pod) {
  const agent = pod.spec?.containers[0];
  if (agent?.name !== 'agent') throw new Error('the client pod has no agent container');
  return agent;
}

describe("the agent's memory limit", () => {
  it('keeps the floor of 256 MiB for short tests, and the requests of every test pod', () => {
    for (const test of TEST_NAMES) {
      for (const lengthSeconds of test === 'udp_latency' ? [2, 30, 60] : [2, 30, 120]) {
        const agent = agentOf(clientPod(request(test, lengthSeconds), context, settings, '10.0.0.2'));
        expect(agent.resources, `${test} ${lengthSeconds} s`).toEqual(TEST_POD_RESOURCES);
      }
    }
    expect(AGENT_MEMORY.floorBytes).toBe(256 * MiB);
  });

  it('grows with the seconds of test, most for the tests with the most samples per second', () => {
    const limit = (test: TestName, lengthSeconds: number) =>
      agentOf(clientPod(request(test, lengthSeconds), context, settings, '10.0.0.2')).resources?.limits
        ?.memory;
    // 1.5 x (140 MB + rate x (3600 + 2 x 2) s), rounded up to 32 MiB.
    expect(limit('udp_latency', 120)).toBe('288Mi');
    expect(limit('udp_latency', 3600)).toBe('2272Mi');
    expect(limit('ping', 3600)).toBe('832Mi');
    expect(limit('rrul', 900)).toBe('352Mi');
    expect(limit('rrul', 3600)).toBe('736Mi');
    expect(limit('tcp_upload', 3600)).toBe('320Mi');
    for (const test of TEST_NAMES) {
      let previous = 0;
      for (const lengthSeconds of [2, 60, 300, 900, 1800, 3600]) {
        const bytes = agentMemoryLimitBytes(request(test, lengthSeconds));
        expect(bytes % (32 * MiB)).toBe(0);
        expect(bytes).toBeGreaterThanOrEqual(previous);
        previous = bytes;
      }
    }
  });

  it('counts the delays before and after the test: the tools sample them too', () => {
    expect(agentMemoryLimitBytes(request('udp_latency', 1800, 60))).toBeGreaterThan(
      agentMemoryLimitBytes(request('udp_latency', 1800, 0)),
    );
  });

  it("leaves resources set in the runner's settings as they are", () => {
    const small = { requests: { memory: '16Mi' }, limits: { memory: '16Mi' } };
    const pod = clientPod(request('rrul', 3600), context, { ...settings, agentResources: small }, '10.0.0.2');
    expect(agentOf(pod).resources).toEqual(small);
  });
});

describe('an agent killed for its memory', () => {
  it('is oom-killed, naming the limit it was given', async () => {
    const created = new Map<string, V1Pod>();
    const deleted = new Set<string>();
    const core = {
      createNamespacedPod: async ({ body }: { body: V1Pod }) => {
        created.set(body.metadata?.name ?? '', body);
        return body;
      },
      readNamespacedPod: async ({ name }: { name: string }) => {
        const pod = created.get(name);
        if (pod === undefined || deleted.has(name)) throw new ApiException(404, 'not found', '', {});
        if (name.startsWith('netmon-srv-'))
          return {
            ...pod,
            status: { phase: 'Running', containerStatuses: [{ name: 'netserver', ready: true }] },
          };
        return {
          ...pod,
          status: {
            phase: 'Failed',
            containerStatuses: [
              { name: 'agent', state: { terminated: { reason: 'OOMKilled', exitCode: 137 } } },
            ],
          },
        };
      },
      deleteNamespacedPod: async ({ name }: { name: string }) => {
        deleted.add(name);
        return {};
      },
      readNamespacedPodLog: async () => '',
    } as unknown as CoreV1Api;
    const runner = new KubernetesRunner(core, { ...settings, serverReadyTimeoutSeconds: 5, pollMs: 5 });
    const outcome = await runner.run(request('rrul', 3600));
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.failure.reason).toBe('oom-killed');
    expect(outcome.failure.message).toContain('limit 736Mi');
    expect([...deleted].sort()).toEqual([...created.keys()].sort());
  });
});
