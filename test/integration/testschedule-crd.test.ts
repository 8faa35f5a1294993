import { readFile } from 'node:fs/promises';
import {
  ApiException,
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  loadYaml,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess, waitFor } from '../../layers/core/process.ts';
import { type ControlPlane, helmBinary, startControlPlane } from '../k8s/control-plane.ts';

/** The chart's TestSchedule CRD on a real API server: what it accepts and what it refuses, and why. */
const CRD = new URL('../../k8s/netmon/crds/testschedule.yaml', import.meta.url);
const CHART = new URL('../../k8s/netmon', import.meta.url).pathname;
const NAMESPACE = 'netmon-crd';
let controlPlane: ControlPlane;
let objects: CustomObjectsApi;

beforeAll(async () => {
  controlPlane = await startControlPlane();
  const crd = loadYaml<V1CustomResourceDefinition>(await readFile(CRD, 'utf8'));
  const extensions = controlPlane.kubeconfig.makeApiClient(ApiextensionsV1Api);
  await extensions.createCustomResourceDefinition({ body: crd });
  await waitFor('the CRD to be established', async () => {
    const current = await extensions.readCustomResourceDefinition({ name: crd.metadata?.name ?? '' });
    return current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
  });
  await controlPlane.kubeconfig
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name: NAMESPACE } } });
  objects = controlPlane.kubeconfig.makeApiClient(CustomObjectsApi);
}, 45 * 60_000);

afterAll(() => controlPlane?.stop());

function create(name: string, spec: Record<string, unknown>): Promise<unknown> {
  return objects.createNamespacedCustomObject({
    group: 'netmon.erigrid.eu',
    version: 'v1alpha1',
    namespace: NAMESPACE,
    plural: 'testschedules',
    fieldValidation: 'Strict',
    body: { apiVersion: 'netmon.erigrid.eu/v1alpha1', kind: 'TestSchedule', metadata: { name }, spec },
  });
}

async function refusal(name: string, spec: Record<string, unknown>): Promise<string> {
  try {
    await create(name, spec);
  } catch (err) {
    if (err instanceof ApiException) return String(err.body);
    throw err;
  }
  throw new Error(`${name} was accepted`);
}

describe('TestSchedule CRD', () => {
  it('accepts a valid schedule and fills the defaults', async () => {
    const created = (await create('hourly', { schedule: '0 * * * *', test: 'rrul', length: 30 })) as {
      spec: Record<string, unknown>;
    };
    expect(created.spec).toMatchObject({
      schedule: '0 * * * *',
      test: 'rrul',
      length: 30,
      delay: 2,
      hostNetwork: true,
      suspend: false,
    });
  });

  it.each([
    ['bad-cron', { schedule: 'every hour', test: 'ping' }, 'spec.schedule'],
    ['bad-test', { schedule: '0 * * * *', test: 'iperf3' }, 'spec.test'],
    ['bad-length', { schedule: '0 * * * *', test: 'ping', length: 0 }, 'spec.length'],
    ['long-length', { schedule: '0 * * * *', test: 'ping', length: 3601 }, 'spec.length'],
    ['unknown-field', { schedule: '0 * * * *', test: 'ping', lenght: 5 }, 'lenght'],
    ['short-bandwidth', { schedule: '0 * * * *', test: 'rrul', length: 1 }, 'length of at least 2 seconds'],
    [
      'short-timeout',
      { schedule: '0 * * * *', test: 'ping', length: 60, timeoutSeconds: 30 },
      'timeoutSeconds must be longer than length',
    ],
  ])('refuses %s, naming the field', async (name, spec, field) => {
    expect(await refusal(name, spec)).toContain(field);
  });
});

describe('Helm chart', () => {
  it('lints clean and renders the TestSchedules of its values', async () => {
    const helm = await helmBinary();
    const lint = await runProcess([helm, 'lint', CHART, '--strict']);
    expect(lint.exitCode, lint.stdout + lint.stderr).toBe(0);
    const rendered = await runProcess([helm, 'template', 'netmon', CHART, '--namespace', 'netmon']);
    expect(rendered.exitCode, rendered.stderr).toBe(0);
    expect(rendered.stdout).toContain('kind: TestSchedule');
    expect(rendered.stdout.match(/kind: CronJob/g)).toHaveLength(3);
    expect(rendered.stdout).toContain('concurrencyPolicy: Forbid');
  });

  it('refuses values that break the schema, naming the value', async () => {
    const helm = await helmBinary();
    const bad = await runProcess([
      helm,
      'template',
      'netmon',
      CHART,
      '--set',
      'schedules[0].test=iperf',
      '--set',
      'schedules[0].name=x',
      '--set',
      'schedules[0].schedule=0 * * * *',
    ]);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/schedules\/0\/test|schedules\.0\.test/);
  });
});
