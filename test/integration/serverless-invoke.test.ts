import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimCluster } from '../../infra/rig/sim-cluster.ts';
import { type RunResult, runProcess, waitFor } from '../../layers/core/process.ts';
import type { PlanOutcome } from '../../layers/domain/round.ts';
import { queryLatestPairs } from '../../layers/metrics/query.ts';
import { querySweepPairs } from '../../layers/metrics/sweep.ts';
import type { ProbeReport } from '../../layers/pipeline/probe.ts';
import type { RenderReport } from '../../layers/pipeline/render.ts';
import type { SweepReport } from '../../layers/pipeline/sweep.ts';
import { GRAPH_SET_FILES } from '../../layers/store/keys.ts';
import type { ObjectStore } from '../../layers/store/s3-store.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import { type StackFixture, startStackFixture } from '../helpers/local-stack.ts';
import { SECRETS_EXTENSION_LAYER_ARN } from '../helpers/osls.ts';

/**
 * plan, probe, sweep and render as serverless.yml declares them, run by
 * `osls invoke local` (the framework's own local runner: it loads the
 * handler from the bundle the way the Lambda Node.js runtime is configured,
 * sets the function's environment from serverless.yml and calls it with the
 * event) against the embedded stack and two simulated nodes. Each function
 * gets an EventBridge "Scheduled Event"; its report is what invoke local
 * prints, and the objects and metrics are checked in the real s3rver and
 * Prometheus.
 *
 * What differs from Lambda, and how:
 * - The Refs of the environment (the bucket, the queue URL): invoke local
 *   asks CloudFormation for the deployed stack's resources. There is no AWS
 *   account here, so a loopback stand-in answers ListStackResources with the
 *   embedded stack's bucket and queue: the one stand-in of this file.
 * - The runner: serverless.yml's functions run test pods (NETMON_RUNNER
 *   kubernetes, kubeconfig from Secrets Manager); here `--env` switches them
 *   to the local runner (network namespaces of this host) with its settings,
 *   and points S3 and SQS at the embedded stack (s3rver wants path-style
 *   requests and no streamed checksums). Everything else (the variable
 *   names, bucket, queue, region, Pushgateway and Prometheus parameters,
 *   budget, visibility) is serverless.yml's.
 * - IAM: nothing enforces it locally. S3 and SQS are reached through a
 *   recording forwarder, and every request a function made must be allowed
 *   by its own role in serverless.yml.
 * Every other AWS endpoint (and the Secrets extension's port) points at a
 * loopback listener that must see no connection.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OSLS = join(ROOT, 'node_modules', '.bin', 'osls');
const FUNCTIONS = ['plan', 'probe', 'sweep', 'render'] as const;
type FunctionName = (typeof FUNCTIONS)[number];
const NODES = ['a', 'b'];
const SCHEDULE = 'invoke';
const STAGE = 'test';
const KUBECONFIG_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:netmon-kubeconfig-AbCdEf';
/** The settings `--env` overrides that serverless.yml sets too; all the others it does not set. */
const OVERRIDDEN = ['NETMON_RUNNER', 'NETMON_S3_FORCE_PATH_STYLE', 'NETMON_S3_CHECKSUMS'];

type Json = Record<string, unknown>;
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: { StringLike?: Record<string, string | string[]> };
}
/** One request a function made, as the IAM action it needs and what it acts on (a key, a prefix, the queue). */
interface Call {
  fn: FunctionName;
  action: string;
  resource: string;
}

let fixture: StackFixture;
let cluster: SimCluster;
let store: ObjectStore;
let service: string;
let config: {
  functions: Record<string, { role: string; environment?: Json }>;
  resources: Json;
  provider: Json;
};
const servers: Array<Server | TcpServer> = [];
let awsConnections = 0;
let nowhere: string;
let cloudFormation: string;
const stacksAsked: string[] = [];
let s3Proxy: string;
let sqsProxy: string;
let current: FunctionName = 'plan';
const calls: Call[] = [];

function listen(server: Server | TcpServer): Promise<string> {
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(`http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`);
    });
  });
}

function bodyOf(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/** Forwards every request to `upstream` unchanged (Host too: SigV4 signs it) and records what it was. */
function recordingForwarder(upstream: string, classify: (req: IncomingMessage, body: Buffer) => string[][]) {
  const target = new URL(upstream);
  return createServer((req, res) => {
    void bodyOf(req).then((body) => {
      for (const [action = '', resource = ''] of classify(req, body))
        calls.push({ fn: current, action, resource });
      const forwarded = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forwarded.on('error', (err) => {
        res.writeHead(502);
        res.end(String(err));
      });
      forwarded.end(body);
    });
  });
}

/** A path-style S3 request as IAM sees it: s3:ListBucket on a prefix, or an object action on a key. */
function s3Calls(bucket: string) {
  return (req: IncomingMessage, body: Buffer): string[][] => {
    const url = new URL(req.url ?? '/', 'http://s3');
    const [, first = '', ...rest] = url.pathname.split('/');
    if (decodeURIComponent(first) !== bucket) return [['unknown', `${req.method} ${url.pathname}`]];
    const key = rest.map(decodeURIComponent).join('/');
    if (key === '') {
      // ListObjects (V2 or V1): s3:ListBucket, the prefix as the s3:prefix condition key sees it.
      if (req.method === 'GET') return [['s3:ListBucket', url.searchParams.get('prefix') ?? '']];
      if (req.method === 'POST' && url.searchParams.has('delete'))
        return [...body.toString().matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => [
          's3:DeleteObject',
          m[1] ?? '',
        ]);
      return [['unknown', `${req.method} ${req.url}`]];
    }
    const action = {
      GET: 'GetObject',
      HEAD: 'GetObject',
      PUT: 'PutObject',
      POST: 'PutObject',
      DELETE: 'DeleteObject',
    }[req.method ?? ''];
    return [[action === undefined ? 'unknown' : `s3:${action}`, key]];
  };
}

/**
 * An SQS request (JSON protocol: X-Amz-Target, or the query protocol's Action) on the work queue,
 * as its IAM action: a batch call needs the permission of its single form (SendMessageBatch: sqs:SendMessage).
 */
function sqsCalls(req: IncomingMessage, body: Buffer): string[][] {
  const target = req.headers['x-amz-target']?.toString().replace(/^AmazonSQS\./, '');
  const operation = target ?? new URLSearchParams(body.toString()).get('Action') ?? 'unknown';
  return [[`sqs:${operation.replace(/Batch$/, '')}`, 'WorkQueue']];
}

/** ListStackResources of the deployed stack, as invoke local asks to resolve the environment's Refs. */
function cloudFormationStandIn(physicalIds: Record<string, string>): Server {
  return createServer((req, res) => {
    void bodyOf(req).then((body) => {
      const form = new URLSearchParams(body.toString());
      stacksAsked.push(`${form.get('Action')} ${form.get('StackName')}`);
      if (form.get('Action') !== 'ListStackResources' || form.get('StackName') !== `netmon-${STAGE}`) {
        res.writeHead(400, { 'content-type': 'text/xml' });
        res.end(
          '<ErrorResponse><Error><Code>ValidationError</Code><Message>no such stack</Message></Error></ErrorResponse>',
        );
        return;
      }
      const members = Object.entries(physicalIds)
        .map(
          ([logical, physical]) =>
            `<member><LogicalResourceId>${logical}</LogicalResourceId><PhysicalResourceId>${physical}</PhysicalResourceId>` +
            '<ResourceType>AWS::CloudFormation::Stub</ResourceType><ResourceStatus>CREATE_COMPLETE</ResourceStatus>' +
            '<LastUpdatedTimestamp>2026-01-01T00:00:00Z</LastUpdatedTimestamp></member>',
        )
        .join('');
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        '<ListStackResourcesResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">' +
          `<ListStackResourcesResult><StackResourceSummaries>${members}</StackResourceSummaries></ListStackResourcesResult>` +
          '<ResponseMetadata><RequestId>stand-in</RequestId></ResponseMetadata></ListStackResourcesResponse>',
      );
    });
  });
}

const PARAMS = (): string[] =>
  Object.entries({
    pushgatewayUrl: fixture.stack.pushgatewayUrl,
    prometheusUrl: fixture.stack.prometheusUrl,
    kubeconfigSecretArn: KUBECONFIG_SECRET_ARN,
    secretsExtensionLayerArn: SECRETS_EXTENSION_LAYER_ARN,
  }).map(([key, value]) => `--param=${key}=${value}`);

/** The osls process's environment: dummy credentials (s3rver's fixed pair), every AWS endpoint on loopback. */
function oslsEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: service,
    // The suite's mark (test/setup/global.ts), so its leftover check knows these processes.
    ...Object.fromEntries(Object.entries(process.env).filter(([key]) => key.startsWith('NETMON_TEST_SUITE'))),
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_ENDPOINT_URL: nowhere,
    AWS_ENDPOINT_URL_CLOUDFORMATION: cloudFormation,
    PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: new URL(nowhere).port,
    NPM_CONFIG_UPDATE_NOTIFIER: 'false',
  };
}

/** What `--env` sets: the local runner and its settings, S3 and SQS of the embedded stack (through the recorders). */
function overrides(): Record<string, string> {
  const env = fixture.env;
  return {
    NETMON_RUNNER: 'local',
    NETMON_NODES_FILE: env.NETMON_NODES_FILE ?? '',
    NETMON_LOCK_FILE: env.NETMON_LOCK_FILE ?? '',
    NETMON_WORK_DIR: env.NETMON_WORK_DIR ?? '',
    NETMON_SCHEDULES: JSON.stringify([
      { name: SCHEDULE, cron: '* * * * *', test: 'tcp_upload', lengthSeconds: 2, delaySeconds: 1 },
    ]),
    NETMON_S3_ENDPOINT: s3Proxy,
    NETMON_S3_FORCE_PATH_STYLE: 'true',
    NETMON_S3_CHECKSUMS: 'WHEN_REQUIRED',
    NETMON_SQS_ENDPOINT: sqsProxy,
  };
}

function scheduledEvent(fn: FunctionName): Json {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [`arn:aws:events:us-east-1:123456789012:rule/netmon-${STAGE}-${fn}`],
    detail: {},
  };
}

/** `osls invoke local --function fn` with a scheduled event: the handler's return value, as invoke local prints it. */
async function invoke<T>(fn: FunctionName): Promise<T> {
  current = fn;
  const result: RunResult = await runProcess(
    [
      OSLS,
      'invoke',
      'local',
      '--function',
      fn,
      '--stage',
      STAGE,
      '--region',
      'us-east-1',
      ...PARAMS(),
      '--data',
      JSON.stringify(scheduledEvent(fn)),
      ...Object.entries(overrides()).flatMap(([key, value]) => ['--env', `${key}=${value}`]),
    ],
    { cwd: service, env: oslsEnv(), timeoutMs: 120_000 },
  );
  const printed = result.stdout.slice(result.stdout.search(/^[[{]$/m));
  expect(result.exitCode, `${fn}:\n${result.stdout}\n${result.stderr}`).toBe(0);
  return JSON.parse(printed) as T;
}

/** Whether a role statement allows `call`: its action, on the bucket's keys, the bucket under a prefix, or the queue. */
function allows(statement: Statement, call: Call): boolean {
  const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
  if (statement.Effect !== 'Allow' || !actions.includes(call.action)) return false;
  const glob = (pattern: string, value: string): boolean =>
    new RegExp(
      `^${pattern
        .split('*')
        .map((part) => part.replace(/[\\^$.|?+()[\]{}]/g, '\\$&'))
        .join('.*')}$`,
    ).test(value);
  const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
  return resources.some((resource) => {
    const getAtt = (resource as { 'Fn::GetAtt'?: string[] })['Fn::GetAtt'];
    const sub = (resource as { 'Fn::Sub'?: string })['Fn::Sub'];
    if (call.action === 's3:ListBucket') {
      // A condition key with several values matches when any of them does (IAM's rule).
      const prefix = statement.Condition?.StringLike?.['s3:prefix'];
      return (
        getAtt?.[0] === 'NetmonBucket' &&
        (prefix === undefined || [prefix].flat().some((p) => glob(p, call.resource)))
      );
    }
    if (call.action.startsWith('s3:')) {
      const objects = sub?.match(/^\$\{NetmonBucket\.Arn\}\/(.+)$/)?.[1];
      return objects !== undefined && glob(objects, call.resource);
    }
    return getAtt?.[0] === call.resource;
  });
}

function statementsOf(fn: FunctionName): Statement[] {
  const role = (config.resources.Resources as Record<string, { Properties: Json }>)[
    config.functions[fn]?.role ?? ''
  ];
  const policies = role?.Properties.Policies as
    | Array<{ PolicyDocument: { Statement: Statement[] } }>
    | undefined;
  return (policies ?? []).flatMap((policy) => policy.PolicyDocument.Statement);
}

beforeAll(async () => {
  fixture = await startStackFixture();
  store = storeFrom(fixture.env);
  cluster = await SimCluster.create({ nodes: NODES.map((name) => ({ name })) });
  await fixture.writeNodes(cluster.clusterNodes());

  const awsListener = createTcpServer((socket) => {
    awsConnections++;
    socket.destroy();
  });
  nowhere = await listen(awsListener);
  s3Proxy = await listen(
    recordingForwarder(fixture.env.NETMON_S3_ENDPOINT ?? '', s3Calls(fixture.env.NETMON_S3_BUCKET ?? '')),
  );
  sqsProxy = await listen(recordingForwarder(fixture.env.NETMON_SQS_ENDPOINT ?? '', sqsCalls));
  // The queue's URL names the recorder's host: the SQS client sends to the queue URL's endpoint.
  const queueUrl = new URL(fixture.env.NETMON_SQS_QUEUE_URL ?? '');
  cloudFormation = await listen(
    cloudFormationStandIn({
      NetmonBucket: fixture.env.NETMON_S3_BUCKET ?? '',
      WorkQueue: `${sqsProxy}${queueUrl.pathname}`,
    }),
  );

  // The service folder as a deployer has it after `npm run build` (the suite's global setup builds dist/).
  service = await mkdtemp(join(tmpdir(), 'netmon-invoke-'));
  await mkdir(join(service, 'dist'));
  await copyFile(join(ROOT, 'serverless.yml'), join(service, 'serverless.yml'));
  for (const file of ['package.json', ...FUNCTIONS.map((fn) => `${fn}.js`)])
    await copyFile(join(ROOT, 'dist', file), join(service, 'dist', file));

  const printed = await runProcess(
    [OSLS, 'print', '--format', 'json', '--stage', STAGE, '--region', 'us-east-1', ...PARAMS()],
    { cwd: service, env: oslsEnv(), timeoutMs: 60_000 },
  );
  expect(printed.exitCode, printed.stderr).toBe(0);
  config = JSON.parse(printed.stdout) as typeof config;
}, 120_000);

afterAll(async () => {
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
  await cluster?.destroy();
  await fixture?.stop();
  if (service) await rm(service, { recursive: true, force: true });
});

describe('serverless.yml functions through osls invoke local', () => {
  it('overrides only the runner and the S3 dialect of what serverless.yml sets', () => {
    for (const fn of FUNCTIONS) {
      const set = new Set([
        ...Object.keys(config.provider.environment as Json),
        ...Object.keys(config.functions[fn]?.environment ?? {}),
      ]);
      const overridden = Object.keys(overrides()).filter((key) => set.has(key));
      expect(
        overridden.every((key) => OVERRIDDEN.includes(key)),
        `${fn}: ${overridden.join(', ')}`,
      ).toBe(true);
    }
  });

  it('plan, probe, sweep and render: scheduled event in, report out, objects in s3rver and metrics in Prometheus', async () => {
    const [opened, ...more] = await invoke<PlanOutcome[]>('plan');
    expect(more).toEqual([]);
    expect(opened).toMatchObject({ schedule: SCHEDULE, action: 'opened', queued: 2 });
    const round = opened?.round ?? '';
    expect(await store.list(`rounds/${SCHEDULE}/`)).toEqual([`rounds/${SCHEDULE}/${round}.json`]);

    const probed = await invoke<ProbeReport>('probe');
    expect(probed).toEqual({
      tests: 2,
      failures: 0,
      skipped: 0,
      duplicates: 0,
      stoppedBecause: 'queue-empty',
    });
    expect((await store.list(`results/${SCHEDULE}/${round}/`)).length).toBe(2);
    expect((await store.list(`archives/${SCHEDULE}/`)).length).toBe(2);

    const swept = await invoke<SweepReport>('sweep');
    expect(swept).toMatchObject({ nodes: 2, pairs: 2, unreachable: [], underLoad: 0, failedSources: [] });
    await waitFor(
      'the tests and the sweep of both pairs in Prometheus',
      async () =>
        (await queryLatestPairs(fixture.stack.prometheusUrl)).length === 2 &&
        (await querySweepPairs(fixture.stack.prometheusUrl)).length === 2,
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    const sweepPairs = await querySweepPairs(fixture.stack.prometheusUrl);
    expect(sweepPairs.map((p) => `${p.src}>${p.dst}:${p.connectivity}`).sort()).toEqual(['a>b:1', 'b>a:1']);

    const rendered = await invoke<RenderReport>('render');
    expect(rendered).toMatchObject({ nodes: 2, edges: 2, staleEdges: 0 });
    const latest = await store.list('graphs/latest/');
    expect(latest.sort()).toEqual(
      Object.values(GRAPH_SET_FILES)
        .map((f) => `graphs/latest/${f.name}`)
        .sort(),
    );

    // Everything reached the embedded stack through serverless.yml's settings, nothing AWS.
    expect(stacksAsked.every((asked) => asked === `ListStackResources netmon-${STAGE}`)).toBe(true);
    expect(stacksAsked.length).toBeGreaterThanOrEqual(FUNCTIONS.length);
    expect(awsConnections).toBe(0);
  }, 150_000);

  it("made only requests each function's own role in serverless.yml allows", () => {
    expect(new Set(calls.map((call) => call.fn))).toEqual(new Set(FUNCTIONS));
    // With the Kubernetes runner the test pod's agent uploads the archive (the cluster's own S3
    // credentials); the local runner has no pod, so probe does it here.
    const agents = (call: Call): boolean =>
      call.fn === 'probe' && call.action === 's3:PutObject' && call.resource.startsWith('archives/');
    expect(calls.filter(agents).length).toBe(2);
    const denied = calls
      .filter((call) => !agents(call))
      .filter((call) => !statementsOf(call.fn).some((statement) => allows(statement, call)));
    expect(denied).toEqual([]);
    const actions = (fn: FunctionName): string[] =>
      [...new Set(calls.filter((call) => call.fn === fn).map((call) => call.action))].sort();
    expect(actions('plan')).toContain('sqs:SendMessage');
    expect(actions('probe')).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage']));
    expect(actions('render')).toContain('s3:PutObject');
  });
});
