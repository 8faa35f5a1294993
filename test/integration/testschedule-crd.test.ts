import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ApiException,
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  loadAllYaml,
  loadYaml,
  type V1ConfigMap,
  type V1CronJob,
  type V1CustomResourceDefinition,
  type V1Deployment,
  type V1EnvVar,
  type V1PolicyRule,
  type V1Role,
  type V1Service,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPlane, helmBinary, startControlPlane } from '../../infra/cluster/control-plane.ts';
import { type RunResult, runProcess, waitFor } from '../../layers/core/process.ts';
import { type Dashboard, loadDashboard } from '../helpers/grafana.ts';

/** The chart's TestSchedule CRD on a real API server: what it accepts and what it refuses, and why. */
const CRD = new URL('../../k8s/netmon/crds/testschedule.yaml', import.meta.url);
const CHART = new URL('../../k8s/netmon', import.meta.url).pathname;
const NAMESPACE = 'netmon-crd';
const RESOURCE = { group: 'netmon.erigrid.eu', version: 'v1alpha1', plural: 'testschedules' } as const;
let controlPlane: ControlPlane;
let objects: CustomObjectsApi;
let extensions: ApiextensionsV1Api;

beforeAll(async () => {
  controlPlane = await startControlPlane();
  const crd = loadYaml<V1CustomResourceDefinition>(await readFile(CRD, 'utf8'));
  extensions = controlPlane.kubeconfig.makeApiClient(ApiextensionsV1Api);
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
    ...RESOURCE,
    namespace: NAMESPACE,
    fieldValidation: 'Strict',
    body: { apiVersion: 'netmon.erigrid.eu/v1alpha1', kind: 'TestSchedule', metadata: { name }, spec },
  });
}

/** The API server's answer to a request that must be refused. */
async function refused(what: string, request: () => Promise<unknown>): Promise<string> {
  try {
    await request();
  } catch (err) {
    if (err instanceof ApiException) return String(err.body);
    throw err;
  }
  throw new Error(`${what} was accepted`);
}

function refusal(name: string, spec: Record<string, unknown>): Promise<string> {
  return refused(name, () => create(name, spec));
}

interface TestScheduleObject {
  metadata: { name: string; resourceVersion?: string };
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
}

function read(name: string): Promise<TestScheduleObject> {
  return objects.getNamespacedCustomObject({ ...RESOURCE, namespace: NAMESPACE, name });
}

/** PUT .../status with the object read back, its spec and status replaced as given. */
async function replaceStatus(
  name: string,
  change: { spec?: Record<string, unknown>; status: Record<string, unknown> },
): Promise<TestScheduleObject> {
  const current = await read(name);
  return objects.replaceNamespacedCustomObjectStatus({
    ...RESOURCE,
    namespace: NAMESPACE,
    name,
    body: { ...current, spec: change.spec ?? current.spec, status: change.status },
  });
}

/** What plan writes while a round is open: 2 of 6 pairs finished. */
const OPEN_ROUND_STATUS = {
  observedGeneration: 1,
  lastScheduleTime: '2026-11-26T08:00:00Z',
  round: '20261126T080000Z',
  progress: '2/6',
  currentRound: {
    id: '20261126T080000Z',
    scheduledAt: '2026-11-26T08:00:00Z',
    openedAt: '2026-11-26T08:00:03Z',
    total: 6,
    done: 1,
    failed: 1,
    skipped: 0,
  },
  lastCompletedRound: {
    id: '20261126T070000Z',
    scheduledAt: '2026-11-26T07:00:00Z',
    openedAt: '2026-11-26T07:00:02Z',
    closedAt: '2026-11-26T07:04:40Z',
    total: 6,
    done: 6,
    failed: 0,
    skipped: 0,
  },
  conditions: [
    {
      type: 'Ready',
      status: 'True',
      reason: 'Scheduled',
      message: 'plan: opened',
      lastTransitionTime: '2026-11-26T07:00:02Z',
      observedGeneration: 1,
    },
  ],
};

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

  it('accepts a timeoutSeconds of exactly length + 2 x delay + 10', async () => {
    await create('exact-timeout', { schedule: '0 * * * *', test: 'rrul', length: 30, timeoutSeconds: 44 });
    await create('no-delay', {
      schedule: '0 * * * *',
      test: 'ping',
      length: 5,
      delay: 0,
      timeoutSeconds: 15,
    });
    expect(
      await refusal('no-delay-short', {
        schedule: '0 * * * *',
        test: 'ping',
        length: 5,
        delay: 0,
        timeoutSeconds: 14,
      }),
    ).toContain('timeoutSeconds must be at least length + 2 x delay + 10');
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
      'timeoutSeconds must be at least length + 2 x delay + 10',
    ],
    // rrul of 30 s with the default delay of 2: 30 + 4 + 10 to start.
    [
      'rrul-timeout-31',
      { schedule: '0 * * * *', test: 'rrul', length: 30, timeoutSeconds: 31 },
      'timeoutSeconds must be at least length + 2 x delay + 10',
    ],
  ])('refuses %s, naming the field', async (name, spec, field) => {
    expect(await refusal(name, spec)).toContain(field);
  });

  it('takes the status through its subresource and reads it back', async () => {
    await create('with-status', { schedule: '0 * * * *', test: 'ping' });
    const written = await replaceStatus('with-status', { status: OPEN_ROUND_STATUS });
    expect(written.status).toEqual(OPEN_ROUND_STATUS);
    expect((await read('with-status')).status).toEqual(OPEN_ROUND_STATUS);
  });

  it('ignores a spec sent through the status subresource', async () => {
    await create('spec-via-status', { schedule: '0 * * * *', test: 'ping', length: 5 });
    const written = await replaceStatus('spec-via-status', {
      spec: { schedule: '30 * * * *', test: 'rrul', length: 20 },
      status: { round: '20261126T080000Z', progress: '0/6' },
    });
    const after = await read('spec-via-status');
    for (const object of [written, after]) {
      expect(object.spec).toMatchObject({ schedule: '0 * * * *', test: 'ping', length: 5 });
      expect(object.status).toEqual({ round: '20261126T080000Z', progress: '0/6' });
    }
  });

  it('refuses a condition status outside True/False/Unknown, naming the field', async () => {
    await create('maybe-ready', { schedule: '0 * * * *', test: 'ping' });
    const body = await refused('condition status Maybe', () =>
      replaceStatus('maybe-ready', {
        status: { conditions: [{ type: 'Ready', status: 'Maybe', reason: 'Guess' }] },
      }),
    );
    expect(body).toContain('status.conditions[0].status');
    expect(body).toContain('Maybe');
    expect((await read('maybe-ready')).status).toBeUndefined();
  });

  it('shows Last Round, Progress and Ready in kubectl get', async () => {
    const crd = await extensions.readCustomResourceDefinition({ name: 'testschedules.netmon.erigrid.eu' });
    const columns = crd.spec.versions.find((v) => v.name === 'v1alpha1')?.additionalPrinterColumns ?? [];
    expect(columns.map((c) => [c.name, c.jsonPath])).toEqual([
      ['Schedule', '.spec.schedule'],
      ['Test', '.spec.test'],
      ['Last Round', '.status.round'],
      ['Progress', '.status.progress'],
      ['Ready', '.status.conditions[?(@.type=="Ready")].status'],
      ['Age', '.metadata.creationTimestamp'],
    ]);
  });
});

interface Manifest {
  kind: string;
  metadata: { name: string };
}

/** `helm template` of the chart with these --set values, as helm answered (refusals included). */
async function helmTemplate(...sets: string[]): Promise<RunResult> {
  const helm = await helmBinary();
  const args = sets.flatMap((set) => ['--set', set]);
  return runProcess([helm, 'template', 'netmon', CHART, '--namespace', 'netmon', ...args]);
}

/** `helm template` of the chart with these --set values, parsed into objects. */
async function render(...sets: string[]): Promise<Manifest[]> {
  const rendered = await helmTemplate(...sets);
  expect(rendered.exitCode, rendered.stderr).toBe(0);
  return (loadAllYaml(rendered.stdout) as Array<Manifest | null>).filter((m): m is Manifest => m !== null);
}

function ofKind<T>(manifests: Manifest[], kind: string): T[] {
  return manifests.filter((m) => m.kind === kind) as unknown as T[];
}

function secretRef(env: V1EnvVar[], name: string): unknown {
  return env.find((e) => e.name === name)?.valueFrom?.secretKeyRef;
}

/**
 * The NOTES `helm install --dry-run=client` prints for these --set values.
 * It still checks that a cluster is reachable (helm v3.22,
 * pkg/action/install.go), so it talks to the real API server here.
 */
async function notesOf(...sets: string[]): Promise<string> {
  const helm = await helmBinary();
  const install = await runProcess([
    helm,
    'install',
    'netmon',
    CHART,
    '--dry-run=client',
    '--namespace',
    'netmon',
    '--kubeconfig',
    controlPlane.kubeconfigPath,
    ...sets.flatMap((set) => ['--set', set]),
  ]);
  expect(install.exitCode, install.stderr).toBe(0);
  return install.stdout.slice(install.stdout.indexOf('NOTES:'));
}

describe('Helm chart', () => {
  it('lints clean and renders the TestSchedules of its values', async () => {
    const helm = await helmBinary();
    const lint = await runProcess([helm, 'lint', CHART, '--strict']);
    expect(lint.exitCode, lint.stdout + lint.stderr).toBe(0);
    const rendered = await helmTemplate();
    expect(rendered.exitCode, rendered.stderr).toBe(0);
    expect(rendered.stdout).toContain('kind: TestSchedule');
    // plan, probe, render and sweep.
    expect(rendered.stdout.match(/kind: CronJob/g)).toHaveLength(4);
    expect(rendered.stdout).toContain('concurrencyPolicy: Forbid');
  });

  it('refuses values that break the schema, naming the value', async () => {
    const bad = await helmTemplate(
      'schedules[0].test=iperf',
      'schedules[0].name=x',
      'schedules[0].schedule=0 * * * *',
    );
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/schedules\/0\/test|schedules\.0\.test/);
  });

  it('refuses a schedule whose timeoutSeconds every test would die at, with the shortest it takes', async () => {
    const schedule = ['schedules[0].name=bw', 'schedules[0].schedule=0 * * * *', 'schedules[0].test=rrul'];
    const short = await helmTemplate(...schedule, 'schedules[0].length=30', 'schedules[0].timeoutSeconds=31');
    expect(short.exitCode).not.toBe(0);
    expect(short.stderr).toContain(
      'schedules[0].timeoutSeconds (31) is too short: every test would die at it; at least length + 2 x delay + 10 s to start = 44',
    );
    const delayed = await helmTemplate(
      ...schedule,
      'schedules[0].length=30',
      'schedules[0].delay=5',
      'schedules[0].timeoutSeconds=49',
    );
    expect(delayed.stderr).toContain('= 50');
    const enough = await helmTemplate(
      ...schedule,
      'schedules[0].length=30',
      'schedules[0].timeoutSeconds=44',
    );
    expect(enough.exitCode, enough.stderr).toBe(0);
  });

  it('takes endpoints and credentials from Secrets in every CronJob', async () => {
    const cronJobs = ofKind<V1CronJob>(
      await render('endpointsSecret=netmon-endpoints', 's3.credentialsSecret=netmon-s3'),
      'CronJob',
    );
    expect(cronJobs.map((c) => c.metadata?.name).sort()).toEqual([
      'netmon-plan',
      'netmon-probe',
      'netmon-render',
      'netmon-sweep',
    ]);
    for (const cronJob of cronJobs) {
      const env = cronJob.spec?.jobTemplate.spec?.template.spec?.containers[0]?.env ?? [];
      expect(secretRef(env, 'NETMON_S3_ENDPOINT'), cronJob.metadata?.name).toEqual({
        name: 'netmon-endpoints',
        key: 'NETMON_S3_ENDPOINT',
        optional: true,
      });
      for (const key of [
        'NETMON_SQS_ENDPOINT',
        'NETMON_SQS_QUEUE_URL',
        'NETMON_PUSHGATEWAY_URL',
        'NETMON_PROMETHEUS_URL',
      ]) {
        expect(secretRef(env, key), `${cronJob.metadata?.name} ${key}`).toEqual({
          name: 'netmon-endpoints',
          key,
          optional: true,
        });
      }
      expect(secretRef(env, 'AWS_ACCESS_KEY_ID'), cronJob.metadata?.name).toEqual({
        name: 'netmon-s3',
        key: 'AWS_ACCESS_KEY_ID',
      });
      expect(secretRef(env, 'AWS_SECRET_ACCESS_KEY'), cronJob.metadata?.name).toEqual({
        name: 'netmon-s3',
        key: 'AWS_SECRET_ACCESS_KEY',
      });
    }
  });

  it('runs the functions on the schedules of functions.*.schedule', async () => {
    const cronJobs = ofKind<V1CronJob>(
      await render(
        'functions.plan.schedule=*/3 * * * *',
        'functions.probe.schedule=*/7 * * * *',
        'functions.render.schedule=@hourly',
        'functions.sweep.schedule=*/2 * * * *',
        'functions.timeZone=Europe/Vienna',
      ),
      'CronJob',
    );
    const schedules = Object.fromEntries(cronJobs.map((c) => [c.metadata?.name, c.spec?.schedule]));
    expect(schedules).toEqual({
      'netmon-plan': '*/3 * * * *',
      'netmon-probe': '*/7 * * * *',
      'netmon-render': '@hourly',
      'netmon-sweep': '*/2 * * * *',
    });
    expect(cronJobs.map((c) => c.spec?.timeZone)).toEqual(Array(4).fill('Europe/Vienna'));
  });

  it('refuses a probe schedule that is not cron, naming the value', async () => {
    const bad = await helmTemplate('functions.probe.schedule=every minute');
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/functions\/probe\/schedule|functions\.probe\.schedule/);
  });

  it("grants each function's Role what it does (chart-install.test.ts checks them against the audit log)", async () => {
    const manifests = await render();
    const verbs = (rule: V1PolicyRule) => [rule.apiGroups?.join(','), rule.resources?.join(','), rule.verbs];
    const rulesOf = (kind: string) =>
      Object.fromEntries(ofKind<V1Role>(manifests, kind).map((r) => [r.metadata?.name, r.rules?.map(verbs)]));
    expect(rulesOf('Role')).toEqual({
      'netmon-plan': [
        ['netmon.erigrid.eu', 'testschedules', ['get', 'list']],
        ['netmon.erigrid.eu', 'testschedules/status', ['update']],
      ],
      'netmon-probe': [
        ['', 'pods', ['get', 'list', 'create', 'delete']],
        ['', 'pods/log', ['get']],
        ['coordination.k8s.io', 'leases', ['get', 'create', 'update']],
        ['netmon.erigrid.eu', 'testschedules', ['get']],
        ['netmon.erigrid.eu', 'testschedules/status', ['update']],
      ],
      'netmon-sweep': [
        ['', 'pods', ['get', 'list', 'create', 'delete']],
        ['netmon.erigrid.eu', 'testschedules', ['list']],
      ],
    });
    // Node lists only, cluster-wide: nothing else is granted beyond the namespace.
    for (const rules of Object.values(rulesOf('ClusterRole')))
      expect(rules).toEqual([['', 'nodes', ['list']]]);
  });

  it("passes the servers' ports to the functions, and refuses a port out of range naming it", async () => {
    const configOf = async (...sets: string[]) =>
      ofKind<V1ConfigMap>(await render(...sets), 'ConfigMap').find(
        (m) => m.metadata?.name === 'netmon-config',
      )?.data;
    expect(await configOf()).toMatchObject({ NETMON_NETSERVER_PORT: '12865', NETMON_IRTT_PORT: '2112' });
    expect(await configOf('ports.netserver=22865', 'ports.irtt=3112')).toMatchObject({
      NETMON_NETSERVER_PORT: '22865',
      NETMON_IRTT_PORT: '3112',
    });
    const bad = await helmTemplate('ports.irtt=70000');
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/ports\/irtt|ports\.irtt/);
  });

  it('ships the Grafana dashboard for the sidecar, its graph URL from the values, and can leave it out', async () => {
    const dashboardOf = (manifests: Manifest[]) => {
      const [map] = ofKind<V1ConfigMap>(manifests, 'ConfigMap').filter(
        (m) => m.metadata?.name === 'netmon-grafana-dashboard',
      );
      return map;
    };
    const byDefault = dashboardOf(await render());
    expect(byDefault?.metadata?.labels?.grafana_dashboard).toBe('1');
    const dashboard = JSON.parse(byDefault?.data?.['k8s-netmon.json'] ?? '{}') as Dashboard;
    expect(dashboard.uid).toBe((await loadDashboard()).uid);
    const graphUrl = (d: Dashboard) => d.templating.list.find((v) => v.name === 'graph_url')?.query;
    expect(graphUrl(dashboard)).toBe('http://netmon-graph-api.netmon:8080/graph.svg');
    const configured = dashboardOf(
      await render(
        'grafana.graphUrl=https://graphs.example.org/graph.svg',
        'grafana.sidecarLabel=dashboards',
      ),
    );
    expect(configured?.metadata?.labels?.dashboards).toBe('1');
    expect(graphUrl(JSON.parse(configured?.data?.['k8s-netmon.json'] ?? '{}'))).toBe(
      'https://graphs.example.org/graph.svg',
    );
    expect(dashboardOf(await render('grafana.dashboard=false'))).toBeUndefined();
  });

  it('runs the graph API as a hardened Deployment behind a Service, probed on /livez; graphApi.* values apply', async () => {
    const manifests = await render(
      'graphApi.source=prometheus',
      'graphApi.replicas=2',
      'graphApi.port=9090',
      'graphApi.refreshSeconds=30',
      'endpointsSecret=netmon-endpoints',
      's3.credentialsSecret=netmon-s3',
    );
    const [deployment, ...moreDeployments] = ofKind<V1Deployment>(manifests, 'Deployment');
    const [service, ...moreServices] = ofKind<V1Service>(manifests, 'Service');
    expect(moreDeployments).toEqual([]);
    expect(moreServices).toEqual([]);
    expect(deployment?.metadata?.name).toBe('netmon-graph-api');
    expect(deployment?.spec?.replicas).toBe(2);
    const pod = deployment?.spec?.template.spec;
    const [container, ...sidecars] = pod?.containers ?? [];
    expect(sidecars).toEqual([]);
    expect(pod?.serviceAccountName).toBe('netmon-graph-api');
    expect(pod?.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container?.command).toEqual(['node', '/opt/netmon/graph-api.js']);
    expect(container?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(container?.envFrom).toEqual([{ configMapRef: { name: 'netmon-config' } }]);
    const env = container?.env ?? [];
    const value = (name: string) => env.find((e) => e.name === name)?.value;
    expect(value('NETMON_GRAPH_API_SOURCE')).toBe('prometheus');
    expect(value('NETMON_GRAPH_API_PORT')).toBe('9090');
    expect(value('NETMON_GRAPH_API_REFRESH_SECONDS')).toBe('30');
    expect(secretRef(env, 'NETMON_PROMETHEUS_URL')).toEqual({
      name: 'netmon-endpoints',
      key: 'NETMON_PROMETHEUS_URL',
      optional: true,
    });
    expect(secretRef(env, 'AWS_SECRET_ACCESS_KEY')).toEqual({
      name: 'netmon-s3',
      key: 'AWS_SECRET_ACCESS_KEY',
    });
    expect(container?.ports).toEqual([{ name: 'http', containerPort: 9090, protocol: 'TCP' }]);
    // /livez, not /healthz: a failing S3 or Prometheus must not restart the pod or empty the Service.
    for (const probe of [container?.readinessProbe, container?.livenessProbe]) {
      expect(probe?.httpGet).toEqual({ path: '/livez', port: 'http' });
    }
    expect(container?.resources?.limits).toEqual({ memory: '512Mi' });
    // The Service reaches exactly these pods, on the named port.
    const selector = service?.spec?.selector ?? {};
    expect(selector).toEqual(deployment?.spec?.selector.matchLabels);
    expect(deployment?.spec?.template.metadata?.labels).toMatchObject(selector);
    expect(service?.metadata?.name).toBe('netmon-graph-api');
    expect(service?.spec?.ports).toEqual([{ name: 'http', port: 9090, targetPort: 'http', protocol: 'TCP' }]);

    const off = await render('graphApi.enabled=false');
    expect(ofKind(off, 'Deployment')).toEqual([]);
    expect(ofKind(off, 'Service')).toEqual([]);

    const helm = await helmBinary();
    const lint = await runProcess([helm, 'lint', CHART, '--strict', '--set', 'graphApi.source=prometheus']);
    expect(lint.exitCode, lint.stdout + lint.stderr).toBe(0);
    expect(lint.stdout).toContain('0 chart(s) failed');
    const bad = await helmTemplate('graphApi.source=file');
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/graphApi\/source|graphApi\.source/);
  });

  it('prints its NOTES on install: graphs, archives, metrics and how to change schedules', async () => {
    const notes = await notesOf('s3.bucket=netmon-results', 's3.endpoint=http://minio.storage:9000');
    expect(notes).toContain('NOTES:');
    expect(notes).toContain('kubectl get testschedules -n netmon');
    expect(notes).toContain('s3://netmon-results/graphs/latest/graph.svg');
    expect(notes).toContain('http://minio.storage:9000/netmon-results/graphs/latest/graph.svg');
    for (const format of ['graph.dot', 'graph.graphml', 'graph.json']) expect(notes).toContain(format);
    expect(notes).toContain('s3://netmon-results/archives/<schedule>/');
    expect(notes).toContain('s3://netmon-results/results/<schedule>/<round>/<src>/<dst>.json');
    expect(notes).toContain('netmon_');
    expect(notes).toContain('functions.probe.schedule');
    expect(notes).toContain('"schedules"');
    // What the namespace needs: host-network test pods are outside Pod Security baseline; the servers' ports.
    expect(notes).toContain('kubectl label namespace netmon pod-security.kubernetes.io/enforce=privileged');
    expect(notes).toContain('TCP 12865 (netserver), UDP 2112 (irtt)');
  });

  it('graph.linkSeconds sets NETMON_GRAPH_LINK_SECONDS; graphs.publicRead changes no object; both validated', async () => {
    const configOf = async (...sets: string[]): Promise<Record<string, string>> =>
      ofKind<V1ConfigMap>(await render(...sets), 'ConfigMap').find(
        (c) => c.metadata?.name === 'netmon-config',
      )?.data ?? {};
    expect(await configOf()).not.toHaveProperty('NETMON_GRAPH_LINK_SECONDS');
    expect((await configOf('graph.linkSeconds=3600')).NETMON_GRAPH_LINK_SECONDS).toBe('3600');
    // The chart does not manage the bucket: publicRead only changes what NOTES print.
    const [plain, publicRead] = await Promise.all([helmTemplate(), helmTemplate('graphs.publicRead=true')]);
    expect(publicRead.exitCode, publicRead.stderr).toBe(0);
    expect(publicRead.stdout).toBe(plain.stdout);
    for (const [set, field] of [
      ['graph.linkSeconds=604801', /graph\/linkSeconds|graph\.linkSeconds/],
      ['graphs.publicRead=yes', /graphs\/publicRead|graphs\.publicRead/],
    ] as const) {
      const bad = await helmTemplate(set);
      expect(bad.exitCode, set).not.toBe(0);
      expect(bad.stderr).toMatch(field);
    }
    const values = await readFile(join(CHART, 'values.yaml'), 'utf8');
    expect(values).toMatch(/ {2}# -- Presigned links in render's report[\s\S]*?\n {2}linkSeconds: 0\n/);
    expect(values).toMatch(
      /graphs:\n {2}# -- Whether the bucket lets anyone read graphs\/\*[\s\S]*?\n {2}publicRead: false\n/,
    );
  });

  it('NOTES show both ways to open the latest graph: the presign command, and the public URL with graphs.publicRead', async () => {
    const aws = await notesOf('s3.bucket=netmon-graphs', 's3.region=eu-west-1', 's3.forcePathStyle=false');
    expect(aws).toContain(
      '    NETMON_S3_BUCKET=netmon-graphs NETMON_S3_REGION=eu-west-1 NETMON_S3_FORCE_PATH_STYLE=false netmon graphs urls --expires 1h\n',
    );
    expect(aws).toContain('lets anyone s3:GetObject arn:aws:s3:::netmon-graphs/graphs/*');
    expect(aws).toContain('--set graphs.publicRead=true');
    expect(aws).not.toContain('https://netmon-graphs.s3.eu-west-1.amazonaws.com/');
    expect(aws).not.toContain('kubectl logs');

    const publicAws = await notesOf(
      's3.bucket=netmon-graphs',
      's3.region=eu-west-1',
      'graphs.publicRead=true',
    );
    expect(publicAws).toContain('netmon graphs urls --expires 1h');
    expect(publicAws).toContain(
      '    https://netmon-graphs.s3.eu-west-1.amazonaws.com/graphs/latest/graph.svg\n',
    );
    expect(publicAws).toContain('node names, addresses, zones and figures are readable by anyone');

    const minio = await notesOf(
      's3.bucket=netmon-results',
      's3.endpoint=http://minio.storage:9000',
      'graphs.publicRead=true',
      'graph.linkSeconds=86400',
    );
    expect(minio).toContain(
      'NETMON_S3_BUCKET=netmon-results NETMON_S3_REGION=us-east-1 NETMON_S3_ENDPOINT=http://minio.storage:9000 netmon graphs urls --expires 1h',
    );
    expect(minio).toContain('    http://minio.storage:9000/netmon-results/graphs/latest/graph.svg\n');
    expect(minio).toContain("Each render's report also ends with links valid 86400s (graph.linkSeconds)");
    expect(minio).toContain(
      'kubectl logs -n netmon -l app.kubernetes.io/instance=netmon,app.kubernetes.io/component=render --tail=-1',
    );
  });

  it('installs on the real API server: its TestSchedules pass the CRD, per-schedule settings win', async () => {
    const helm = await helmBinary();
    const namespace = 'netmon-chart';
    const install = await runProcess(
      [
        helm,
        'install',
        'netmon',
        CHART,
        '--namespace',
        namespace,
        '--create-namespace',
        '--kubeconfig',
        controlPlane.kubeconfigPath,
        '-f',
        '-',
      ],
      {
        input: [
          'nodeSelector: { netmon: "true" }',
          'schedules:',
          '  - { name: quick, schedule: "*/5 * * * *", test: ping, length: 5, delay: 0, suspend: true, timeoutSeconds: 60 }',
          '  - { name: pod-net, schedule: "@hourly", test: tcp_upload, length: 20, hostNetwork: false, nodeSelector: { zone: a } }',
        ].join('\n'),
      },
    );
    expect(install.exitCode, install.stderr).toBe(0);
    const list = (await objects.listNamespacedCustomObject({ ...RESOURCE, namespace })) as {
      items: TestScheduleObject[];
    };
    const specs = Object.fromEntries(list.items.map((item) => [item.metadata.name, item.spec]));
    expect(specs).toEqual({
      quick: {
        schedule: '*/5 * * * *',
        test: 'ping',
        length: 5,
        delay: 0,
        suspend: true,
        timeoutSeconds: 60,
        hostNetwork: true,
        nodeSelector: { netmon: 'true' },
      },
      'pod-net': {
        schedule: '@hourly',
        test: 'tcp_upload',
        length: 20,
        delay: 2,
        suspend: false,
        hostNetwork: false,
        nodeSelector: { zone: 'a' },
      },
    });
  });
});
