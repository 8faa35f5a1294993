import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleAll } from '../../infra/build/bundle.ts';
import { runProcess } from '../../layers/core/process.ts';
import {
  archiveKey,
  graphKey,
  metricsPendingKey,
  pairStateKey,
  resultKey,
  roundKey,
  soloKey,
} from '../../layers/store/keys.ts';
import { packageOffline, SECRETS_EXTENSION_LAYER_ARN } from '../helpers/osls.ts';

/**
 * serverless.yml as osls packages it: the CloudFormation template (parsed,
 * asserted on as objects) and the function zips, checked the way the Lambda
 * Node.js runtime uses them.
 *
 * No AWS account here, and none is needed: `osls package` runs with dummy
 * credentials, and AWS_ENDPOINT_URL and the proxy variables point at a
 * loopback listener that must see no connection. The AWS Parameters and
 * Secrets extension (which only exists inside Lambda) is played by a small
 * loopback HTTP server: the one stand-in of this file.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FUNCTIONS = ['plan', 'probe', 'render', 'sweep', 'graph-api'] as const;
const SCHEDULED = ['plan', 'probe', 'render', 'sweep'] as const;
const KUBECONFIG_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:netmon-kubeconfig-AbCdEf';
const PARAMS = {
  pushgatewayUrl: 'http://198.18.0.10:9091',
  prometheusUrl: 'http://198.18.0.10:9090',
  kubeconfigSecretArn: KUBECONFIG_SECRET_ARN,
  secretsExtensionLayerArn: SECRETS_EXTENSION_LAYER_ARN,
};
const SESSION_TOKEN = 'lambda-session-token';
const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "https://198.18.0.11:6443", insecure-skip-tls-verify: true } }]
users: [{ name: netmon, user: { token: service-account-token } }]
contexts: [{ name: c, context: { cluster: c, user: netmon, namespace: netmon } }]
current-context: c
`;

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Properties: Json;
  DependsOn?: string[];
}
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Json;
}

let dir: string;
let resources: Record<string, Resource>;
let awsListener: TcpServer;
let awsConnections = 0;
let extension: Server;
const secretRequests: Array<{ secretId: string | null; token: string | undefined }> = [];

function listen(server: Server | TcpServer): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : 0);
    });
  });
}

/** functions/graph-api/main.ts may not exist yet (another change builds it): a stand-in then, so packaging never waits for it. */
async function ensureGraphApiBundle(dist: string): Promise<void> {
  const file = join(dist, 'graph-api.js');
  if (
    await stat(file).then(
      () => true,
      () => false,
    )
  )
    return;
  await writeFile(
    file,
    "export async function handler() { return { statusCode: 503, body: 'not built' }; }\n",
  );
  await writeFile(`${file}.map`, '{"version":3,"sources":[],"mappings":""}\n');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netmon-serverless-'));
  // The service folder as a deployer has it after `npm run build`; our own copy, built here.
  await copyFile(join(ROOT, 'serverless.yml'), join(dir, 'serverless.yml'));
  await bundleAll({ outDir: join(dir, 'dist') });
  await ensureGraphApiBundle(join(dir, 'dist'));

  awsListener = createTcpServer((socket) => {
    awsConnections++;
    socket.destroy();
  });
  const awsPort = await listen(awsListener);
  const nowhere = `http://127.0.0.1:${awsPort}`;
  const result = await packageOffline(dir, nowhere, PARAMS);
  expect(result.exitCode, `osls package failed:\n${result.stdout}\n${result.stderr}`).toBe(0);
  const template = JSON.parse(
    await readFile(join(dir, 'out', 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as { Resources: Record<string, Resource> };
  resources = template.Resources;

  extension = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const token = request.headers['x-aws-parameters-secrets-token'];
    secretRequests.push({ secretId: url.searchParams.get('secretId'), token: token?.toString() });
    const known =
      url.pathname === '/secretsmanager/get' && url.searchParams.get('secretId') === KUBECONFIG_SECRET_ARN;
    response.writeHead(known && token === SESSION_TOKEN ? 200 : 400, { 'content-type': 'application/json' });
    response.end(JSON.stringify(known ? { ARN: KUBECONFIG_SECRET_ARN, SecretString: KUBECONFIG } : {}));
  });
  await listen(extension);
}, 600_000);

afterAll(async () => {
  await new Promise((resolve) => awsListener?.close(resolve));
  await new Promise((resolve) => extension?.close(resolve));
  if (dir) await rm(dir, { recursive: true, force: true });
});

function ofType(type: string): Array<[string, Resource]> {
  return Object.entries(resources).filter(([, resource]) => resource.Type === type);
}

/** The Lambda function osls made for a serverless.yml function name (graph-api -> GraphDashapiLambdaFunction). */
function lambda(name: string): [string, Resource] {
  const found = ofType('AWS::Lambda::Function').find(
    ([, resource]) => resource.Properties.FunctionName === `netmon-test-${name}`,
  );
  if (found === undefined) throw new Error(`no Lambda function netmon-test-${name}`);
  return found;
}

function roleOf(name: string): Resource {
  const role = lambda(name)[1].Properties.Role as { 'Fn::GetAtt'?: [string, string] };
  const logicalId = role['Fn::GetAtt']?.[0];
  const resource = logicalId === undefined ? undefined : resources[logicalId];
  if (resource?.Type !== 'AWS::IAM::Role')
    throw new Error(`${name} has no role of its own: ${JSON.stringify(role)}`);
  return resource;
}

function statementsOf(role: Resource): Statement[] {
  const policies = role.Properties.Policies as Array<{ PolicyDocument: { Statement: Statement[] } }>;
  return policies.flatMap((policy) => policy.PolicyDocument.Statement);
}

const actionsOf = (statement: Statement): string[] =>
  Array.isArray(statement.Action) ? statement.Action : [statement.Action];
const resourcesOf = (statement: Statement): unknown[] =>
  Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];

/** The logical id a Resource entry points at: {Fn::GetAtt: [Id, Arn]} or {Fn::Sub: "${Id.Arn}/prefix/*"}. */
function targetOf(resource: unknown): { id: string; objects?: string } | undefined {
  if (typeof resource !== 'object' || resource === null) return undefined;
  const getAtt = (resource as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
  if (getAtt !== undefined && getAtt[1] === 'Arn') return { id: getAtt[0] };
  const sub = (resource as { 'Fn::Sub'?: unknown })['Fn::Sub'];
  const match = typeof sub === 'string' ? /^\$\{(\w+)\.Arn\}\/(.+)$/.exec(sub) : null;
  return match?.[1] === undefined ? undefined : { id: match[1], objects: match[2] ?? '' };
}

/** One Allow statement: no wildcard actions or resources, one service, S3 on the bucket, SQS on the queue. */
/** A key prefix a right is scoped to: `rounds/*`, or one folder deeper (`state/latest-round/*`). */
const KEY_PREFIX = /^[a-z][a-z-]*\/([a-z][a-z-]*\/)?\*$/;

function expectScoped(name: string, statement: Statement): void {
  const actions = actionsOf(statement);
  const label = `${name} ${actions.join(',')}`;
  expect(statement.Effect, label).toBe('Allow');
  for (const action of actions) expect(action, label).not.toMatch(/\*/);
  for (const resource of resourcesOf(statement)) expect(resource, label).not.toBe('*');
  const services = new Set(actions.map((action) => action.split(':')[0]));
  expect(services.size, `${label}: one service per statement`).toBe(1);
  const targets = resourcesOf(statement).map(targetOf);
  if (services.has('s3')) {
    // Object actions on key prefixes, bucket actions (ListBucket) on the bucket.
    const onObjects = actions.some((action) => action.endsWith('Object'));
    for (const target of targets) {
      expect(target?.id, label).toBe('NetmonBucket');
      if (onObjects) expect(target?.objects, label).toMatch(KEY_PREFIX);
      else expect(target?.objects, label).toBeUndefined();
    }
    // Listing: only under the prefixes the function reads or prunes.
    if (!onObjects) {
      expect(Object.keys(statement.Condition ?? {}), label).toEqual(['StringLike']);
      const prefixes = [
        (statement.Condition as { StringLike: { 's3:prefix': unknown } }).StringLike['s3:prefix'],
      ].flat();
      expect(prefixes.length, label).toBeGreaterThan(0);
      for (const prefix of prefixes) expect(prefix, label).toMatch(KEY_PREFIX);
    }
  }
  if (services.has('sqs')) {
    for (const target of targets) expect(target, label).toEqual({ id: 'WorkQueue' });
  }
  if (services.has('logs')) {
    expect(JSON.stringify(statement.Resource), label).toContain(
      `log-group:/aws/lambda/netmon-test-${name}:*`,
    );
  }
}

/** A 5-field cron in EventBridge syntax, as serverless.yml's custom.schedules comment says. */
function eventBridgeCron(cron: string): string {
  const [minute, hour, dayOfMonth, month, dayOfWeek, ...rest] = cron.trim().split(/\s+/);
  if (dayOfWeek === undefined || rest.length > 0) throw new Error(`not a 5-field cron: ${cron}`);
  if (dayOfMonth !== '*' && dayOfWeek !== '*')
    throw new Error(`EventBridge cannot restrict both days: ${cron}`);
  const step = (field: string): string => field.replace(/^\*\//, '0/');
  const dom = dayOfWeek === '*' ? dayOfMonth : '?';
  const dow = dayOfWeek === '*' ? '?' : dayOfWeek;
  return `cron(${[minute, hour, dom ?? '*', month, dow].map((f) => step(f ?? '*')).join(' ')} *)`;
}

/** functions.<name>.schedule from the chart's values.yaml. */
async function helmSchedule(name: string): Promise<string> {
  const values = await readFile(join(ROOT, 'k8s', 'netmon', 'values.yaml'), 'utf8');
  const block = new RegExp(
    `^functions:\\n(?:[ #].*\\n)*?  ${name}:\\n(?:    #.*\\n)*    schedule: "([^"]+)"`,
    'm',
  );
  const found = block.exec(values)?.[1];
  if (found === undefined) throw new Error(`no functions.${name}.schedule in values.yaml`);
  return found;
}

async function zipEntries(name: string): Promise<string[]> {
  const listing = await runProcess(['python3', '-m', 'zipfile', '-l', join(dir, 'out', `${name}.zip`)]);
  expect(listing.exitCode, listing.stderr).toBe(0);
  return listing.stdout
    .split('\n')
    .slice(1)
    .map((row) => row.split(/\s+/)[0] ?? '')
    .filter((entry) => entry !== '')
    .sort();
}

/** What a function gets in Lambda: the template's environment (Refs filled in) plus the runtime's own. */
function lambdaEnv(name: string, extensionPort: number): Record<string, string> {
  const variables = (lambda(name)[1].Properties.Environment as { Variables: Record<string, unknown> })
    .Variables;
  const refs: Record<string, string> = {
    NetmonBucket: 'netmon-test-netmonbucket-1a2b3c4d5e6f',
    WorkQueue: 'https://sqs.us-east-1.amazonaws.com/123456789012/netmon-test-work.fifo',
  };
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    AWS_REGION: 'us-east-1',
    AWS_LAMBDA_FUNCTION_NAME: `netmon-test-${name}`,
    AWS_ACCESS_KEY_ID: 'ASIALAMBDAROLE000000',
    AWS_SECRET_ACCESS_KEY: 'lambda-role-secret',
    AWS_SESSION_TOKEN: SESSION_TOKEN,
    PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: String(extensionPort),
    // The bench's mark: the handler prints `ready` and exits once set up, before any I/O.
    NETMON_EXIT_WHEN_READY: '1',
  };
  for (const [key, value] of Object.entries(variables)) {
    const ref = (value as { Ref?: string }).Ref;
    env[key] = typeof value === 'string' ? value : (refs[ref ?? ''] ?? JSON.stringify(value));
  }
  return env;
}

/** Imports a bundle the way the Lambda Node.js runtime does and calls its handler with a scheduled event. */
const LAMBDA_LOADER = `
const module = await import(process.argv[1]);
if (typeof module.handler !== 'function') {
  process.stdout.write('no handler export\\n');
  process.exit(3);
}
await module.handler({ version: '0', 'detail-type': 'Scheduled Event', source: 'aws.events', time: '2026-11-26T12:00:00Z', detail: {} }, {});
`;

describe('serverless.yml packaged by osls', () => {
  it('packages without any call to AWS', () => {
    expect(Object.keys(resources).length).toBeGreaterThan(10);
    expect(awsConnections).toBe(0);
  });

  it('zips each function as its bundle, its source map and dist/package.json, nothing else', async () => {
    for (const name of FUNCTIONS) {
      const entries = (await zipEntries(name)).filter((entry) => !entry.startsWith('dist/graph-page/'));
      expect(entries, name).toEqual(['dist/package.json', `dist/${name}.js`, `dist/${name}.js.map`].sort());
      expect(lambda(name)[1].Properties.Handler).toBe(`dist/${name}.handler`);
      expect(lambda(name)[1].Properties.Runtime).toMatch(/^nodejs(2[2-9]|[3-9]\d)\.x$/);
    }
  });

  it('hands Lambda ES modules with a handler that takes a scheduled event, from the zips alone', async () => {
    const extensionAddress = extension.address();
    const extensionPort =
      typeof extensionAddress === 'object' && extensionAddress !== null ? extensionAddress.port : 0;
    for (const name of SCHEDULED) {
      // /var/task as Lambda unpacks it: no node_modules anywhere above.
      const task = join(dir, 'task', name);
      await mkdir(task, { recursive: true });
      const unzip = await runProcess([
        'python3',
        '-m',
        'zipfile',
        '-e',
        join(dir, 'out', `${name}.zip`),
        task,
      ]);
      expect(unzip.exitCode, unzip.stderr).toBe(0);
      expect(JSON.parse(await readFile(join(task, 'dist', 'package.json'), 'utf8'))).toEqual({
        type: 'module',
      });

      secretRequests.length = 0;
      const run = await runProcess(
        [process.execPath, '--input-type=module', '--eval', LAMBDA_LOADER, join(task, 'dist', `${name}.js`)],
        { cwd: task, env: lambdaEnv(name, extensionPort), timeoutMs: 30_000 },
      );
      expect(run.stdout, `${name}: ${run.stderr}`).toMatch(new RegExp(`^ready ${name} [\\d.]+$`, 'm'));
      expect(run.exitCode).toBe(0);
      // plan and probe reached the cluster's kubeconfig through the extension, with the session token.
      const expected = name === 'render' ? [] : [{ secretId: KUBECONFIG_SECRET_ARN, token: SESSION_TOKEN }];
      expect(secretRequests, name).toEqual(expected);
    }
  });

  it('schedules plan, probe, render and sweep with the Helm chart default crons, in EventBridge syntax', async () => {
    const rules = ofType('AWS::Events::Rule');
    for (const name of SCHEDULED) {
      const [logicalId] = lambda(name);
      const rule = rules.filter(([, resource]) =>
        (resource.Properties.Targets as Array<{ Arn: { 'Fn::GetAtt': string[] } }>).some(
          (target) => target.Arn['Fn::GetAtt'][0] === logicalId,
        ),
      );
      expect(rule, name).toHaveLength(1);
      expect(rule[0]?.[1].Properties.State).toBe('ENABLED');
      expect(rule[0]?.[1].Properties.ScheduleExpression, name).toBe(
        eventBridgeCron(await helmSchedule(name)),
      );
    }
    expect(eventBridgeCron('* * * * *')).toBe('cron(* * * * ? *)');
    expect(eventBridgeCron('*/2 * * * *')).toBe('cron(0/2 * * * ? *)');
    expect(eventBridgeCron('30 4 * * 1')).toBe('cron(30 4 ? * 1 *)');
  });

  it('runs plan, probe, render and sweep one at a time, without retries piling up', () => {
    for (const name of SCHEDULED) {
      expect(lambda(name)[1].Properties.ReservedConcurrentExecutions, name).toBe(1);
      const [logicalId] = lambda(name);
      const config = ofType('AWS::Lambda::EventInvokeConfig').find(
        ([, resource]) => (resource.Properties.FunctionName as { Ref?: string }).Ref === logicalId,
      );
      expect(config?.[1].Properties, name).toMatchObject({
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 60,
      });
    }
  });

  it('puts graph-api behind an HTTP API', () => {
    const [logicalId] = lambda('graph-api');
    const integration = ofType('AWS::ApiGatewayV2::Integration').find(([, resource]) =>
      JSON.stringify(resource.Properties.IntegrationUri).includes(logicalId),
    );
    expect(integration).toBeDefined();
    const routes = ofType('AWS::ApiGatewayV2::Route').map(([, resource]) => resource.Properties.RouteKey);
    expect(routes.sort()).toEqual(['GET /', 'GET /{proxy+}']);
  });

  it('keeps the bucket private and encrypted', () => {
    const buckets = ofType('AWS::S3::Bucket');
    expect(buckets.length).toBeGreaterThanOrEqual(2);
    // Ours and the one osls uploads the zips to.
    for (const [id, bucket] of buckets) {
      expect(bucket.Properties.PublicAccessBlockConfiguration, id).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      const rules = (bucket.Properties.BucketEncryption as { ServerSideEncryptionConfiguration: Json[] })
        .ServerSideEncryptionConfiguration;
      expect(rules.length, id).toBeGreaterThan(0);
      for (const rule of rules) {
        expect(['AES256', 'aws:kms', 'aws:kms:dsse']).toContain(
          (rule.ServerSideEncryptionByDefault as { SSEAlgorithm: string }).SSEAlgorithm,
        );
      }
    }
    expect(resources.NetmonBucket?.Properties.PublicAccessBlockConfiguration).toBeDefined();
    const policy = ofType('AWS::S3::BucketPolicy').find(
      ([, resource]) => (resource.Properties.Bucket as { Ref?: string }).Ref === 'NetmonBucket',
    );
    const document = policy?.[1].Properties.PolicyDocument as { Statement: Statement[] } | undefined;
    expect(document?.Statement).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  it('bounds the versioned bucket with lifecycle rules on the key layout of layers/store/keys.ts', () => {
    const bucket = resources.NetmonBucket?.Properties;
    expect(bucket?.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    interface Rule {
      Id: string;
      Status: string;
      Prefix?: string;
      ExpirationInDays?: number;
      NoncurrentVersionExpiration?: { NoncurrentDays: number };
    }
    const rules = (bucket?.LifecycleConfiguration as { Rules: Rule[] } | undefined)?.Rules ?? [];
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) expect(rule.Status, rule.Id).toBe('Enabled');
    // Every rewrite (a manifest per finished test, graphs/latest/* per render) leaves a noncurrent
    // version: a whole-bucket rule expires them, and the delete markers left with nothing behind them.
    expect(rules.find((rule) => rule.Prefix === undefined)).toMatchObject({
      NoncurrentVersionExpiration: { NoncurrentDays: 7 },
      ExpiredObjectDeleteMarker: true,
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
    });
    // The age of a key: the days of the rule whose prefix it starts with (the default params).
    const expiresAfter = (key: string): number | undefined => {
      const matching = rules.filter((rule) => rule.Prefix !== undefined && key.startsWith(rule.Prefix));
      expect(matching.length, key).toBeLessThanOrEqual(1);
      return matching[0]?.ExpirationInDays;
    };
    const time = new Date('2026-11-26T07:50:12Z');
    expect(expiresAfter(roundKey('hourly', '20261126T075012.000Z'))).toBe(90);
    expect(expiresAfter(resultKey('hourly', '20261126T075012.000Z', 'node-a', 'node-b'))).toBe(90);
    expect(expiresAfter(soloKey('hourly', '20261126T075012.000Z'))).toBe(90);
    expect(expiresAfter(pairStateKey('hourly', 'node-a', 'node-b'))).toBe(90);
    expect(expiresAfter(metricsPendingKey('hourly', 'node-a', 'node-b'))).toBe(90);
    // The raw record outlives the rounds that made it.
    expect(expiresAfter(archiveKey('hourly', 'node-a', 'node-b', 'tcp_upload', time))).toBe(730);
    // render keeps its own NETMON_GRAPH_KEEP sets; an age rule would delete graphs/latest/.
    expect(expiresAfter(graphKey('latest', 'svg'))).toBeUndefined();
    expect(expiresAfter(graphKey(time, 'svg'))).toBeUndefined();
  });

  it('queues work in a FIFO queue whose dead-letter queue is FIFO too', () => {
    const queue = resources.WorkQueue;
    const dlq = resources.DeadLetterQueue;
    expect(queue?.Type).toBe('AWS::SQS::Queue');
    expect(dlq?.Type).toBe('AWS::SQS::Queue');
    expect(queue?.Properties).toMatchObject({ FifoQueue: true, ContentBasedDeduplication: false });
    expect(queue?.Properties.QueueName).toMatch(/\.fifo$/);
    expect(dlq?.Properties).toMatchObject({ FifoQueue: true });
    expect(dlq?.Properties.QueueName).toMatch(/\.fifo$/);
    const redrive = queue?.Properties.RedrivePolicy as {
      deadLetterTargetArn: unknown;
      maxReceiveCount: number;
    };
    expect(redrive.deadLetterTargetArn).toEqual({ 'Fn::GetAtt': ['DeadLetterQueue', 'Arn'] });
    expect(redrive.maxReceiveCount).toBeGreaterThanOrEqual(2);
    // Longer than one test: a probe that extends the visibility keeps its message.
    expect(queue?.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(60);
    for (const name of ['plan', 'probe']) {
      const variables = (lambda(name)[1].Properties.Environment as { Variables: Json }).Variables;
      expect(variables.NETMON_SQS_QUEUE_URL, name).toEqual({ Ref: 'WorkQueue' });
    }
  });

  it('raises an alarm when a pair lands in the dead-letter queue, notifying the topic only when one is given', () => {
    const alarm = resources.DeadLetterAlarm;
    expect(alarm?.Type).toBe('AWS::CloudWatch::Alarm');
    expect(alarm?.Properties).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['DeadLetterQueue', 'QueueName'] } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(alarm?.Properties.AlarmActions).toEqual({
      'Fn::If': ['HasAlarmTopic', [''], { Ref: 'AWS::NoValue' }],
    });
  });

  it('gives each function a role of its own, its S3 and SQS rights scoped to the bucket and the queue', () => {
    expect(resources.IamRoleLambdaExecution).toBeUndefined();
    const roles = new Set(FUNCTIONS.map((name) => roleOf(name)));
    expect(roles.size).toBe(FUNCTIONS.length);
    for (const name of FUNCTIONS) {
      for (const statement of statementsOf(roleOf(name))) expectScoped(name, statement);
    }
    const allowed = (name: string): string[] => statementsOf(roleOf(name)).flatMap(actionsOf).sort();
    expect(allowed('plan')).toContain('sqs:SendMessage');
    expect(allowed('plan')).not.toContain('sqs:ReceiveMessage');
    expect(allowed('probe')).toEqual(expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage']));
    expect(allowed('probe')).not.toContain('sqs:SendMessage');
    expect(allowed('render').filter((action) => action.startsWith('sqs:'))).toEqual([]);
    // The sweep only reads round manifests: no queue, no writes.
    expect(allowed('sweep').filter((action) => !action.startsWith('logs:'))).toEqual([
      's3:GetObject',
      's3:ListBucket',
      'secretsmanager:GetSecretValue',
    ]);
    expect(allowed('graph-api').filter((action) => !action.startsWith('logs:'))).toEqual([
      's3:GetObject',
      's3:ListBucket',
    ]);
  });

  it('lets only plan, probe and sweep read the kubeconfig secret, and only that secret', () => {
    for (const name of FUNCTIONS) {
      const secretStatements = statementsOf(roleOf(name)).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('secretsmanager:')),
      );
      if (name === 'plan' || name === 'probe' || name === 'sweep') {
        expect(secretStatements, name).toEqual([
          { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: KUBECONFIG_SECRET_ARN },
        ]);
        const properties = lambda(name)[1].Properties;
        expect((properties.Environment as { Variables: Json }).Variables.NETMON_KUBECONFIG_SECRET_ARN).toBe(
          KUBECONFIG_SECRET_ARN,
        );
        expect(properties.Layers).toEqual([PARAMS.secretsExtensionLayerArn]);
      } else {
        expect(secretStatements, name).toEqual([]);
      }
    }
    const variables = (name: string): Json =>
      (lambda(name)[1].Properties.Environment as { Variables: Json }).Variables;
    expect(variables('probe').NETMON_PUSHGATEWAY_URL).toBe(PARAMS.pushgatewayUrl);
    expect(variables('plan').NETMON_PUSHGATEWAY_URL).toBe(PARAMS.pushgatewayUrl);
    expect(variables('render').NETMON_PROMETHEUS_URL).toBe(PARAMS.prometheusUrl);
    expect(variables('sweep').NETMON_PUSHGATEWAY_URL).toBe(PARAMS.pushgatewayUrl);
  });
});
