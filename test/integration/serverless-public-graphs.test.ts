import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResult } from '../../layers/core/process.ts';
import { packageOffline, SECRETS_EXTENSION_LAYER_ARN } from '../helpers/osls.ts';

/**
 * serverless.yml's `publicRead` and `graphApiAuth` parameters, as osls packages the template
 * offline (as test/integration/serverless.test.ts does, without an AWS
 * account or any connection to AWS). Only the template matters here, so the
 * function bundles are one-line stand-ins; serverless.test.ts packages and
 * runs the real ones.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PARAMS = {
  pushgatewayUrl: 'http://198.18.0.10:9091',
  prometheusUrl: 'http://198.18.0.10:9090',
  kubeconfigSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:netmon-kubeconfig-AbCdEf',
  secretsExtensionLayerArn: SECRETS_EXTENSION_LAYER_ARN,
};

type Json = Record<string, unknown>;
interface Template {
  Resources: Record<string, { Type: string; Properties: Json }>;
  Outputs: Record<string, { Value: unknown }>;
}
interface Statement {
  Sid?: string;
  Effect: string;
  Principal?: unknown;
  Action: string | string[];
  Resource: unknown;
  Condition?: Json;
}

let dir: string;
let awsListener: Server;
let awsConnections = 0;
let nowhere: string;

async function serviceDir(name: string): Promise<string> {
  const service = join(dir, name);
  await mkdir(join(service, 'dist', 'graph-page'), { recursive: true });
  await copyFile(join(ROOT, 'serverless.yml'), join(service, 'serverless.yml'));
  await writeFile(join(service, 'dist', 'package.json'), '{"type":"module"}\n');
  for (const fn of ['plan', 'probe', 'render', 'graph-api']) {
    await writeFile(join(service, 'dist', `${fn}.js`), 'export async function handler() {}\n');
    await writeFile(join(service, 'dist', `${fn}.js.map`), '{"version":3,"sources":[],"mappings":""}\n');
  }
  await writeFile(join(service, 'dist', 'graph-page', 'app.js'), '\n');
  return service;
}

async function osls(name: string, extra: readonly string[]): Promise<{ result: RunResult; service: string }> {
  const service = await serviceDir(name);
  const result = await packageOffline(service, nowhere, PARAMS, extra);
  return { result, service };
}

async function packaged(name: string, extra: readonly string[]): Promise<Template> {
  const { result, service } = await osls(name, extra);
  expect(result.exitCode, `osls package failed:\n${result.stdout}\n${result.stderr}`).toBe(0);
  return JSON.parse(
    await readFile(join(service, 'out', 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as Template;
}

function bucketStatements(template: Template): Statement[] {
  const policy = Object.values(template.Resources).find(
    (resource) =>
      resource.Type === 'AWS::S3::BucketPolicy' &&
      (resource.Properties.Bucket as { Ref?: string }).Ref === 'NetmonBucket',
  );
  return (policy?.Properties.PolicyDocument as { Statement: Statement[] } | undefined)?.Statement ?? [];
}

/** Statements that let anyone (no account, no role) do something. */
function publicGrants(template: Template): Statement[] {
  return bucketStatements(template).filter(
    (statement) =>
      statement.Effect === 'Allow' &&
      (statement.Principal === '*' || JSON.stringify(statement.Principal) === '{"AWS":"*"}'),
  );
}

function publicAccessBlock(template: Template): unknown {
  return template.Resources.NetmonBucket?.Properties.PublicAccessBlockConfiguration;
}

/** The template as packaged, its upload folder (named by the packaging time) aside. */
function comparable(template: Template): Template {
  return JSON.parse(
    JSON.stringify(template).replace(
      /serverless\/netmon\/test\/[^/"]+\//g,
      'serverless/netmon/test/<packaged>/',
    ),
  ) as Template;
}

/** The template without what publicRead may change: the bucket's public access block and its policy. */
function withoutPublicRead(template: Template): Template {
  const copy = comparable(template);
  delete copy.Resources.NetmonBucket?.Properties.PublicAccessBlockConfiguration;
  delete copy.Resources.NetmonBucketPolicy?.Properties.PolicyDocument;
  return copy;
}

let off: Template;
let explicitOff: Template;
let on: Template;
let jwt: Template;
let open: Template;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netmon-serverless-public-'));
  awsListener = createServer((socket) => {
    awsConnections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => awsListener.listen(0, '127.0.0.1', resolve));
  const address = awsListener.address();
  nowhere = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  off = await packaged('default', []);
  explicitOff = await packaged('off', ['--param=publicRead=false']);
  on = await packaged('on', ['--param=publicRead=true']);
  jwt = await packaged('jwt', [
    '--param=graphApiAuth=jwt',
    '--param=jwtIssuerUrl=https://issuer.example.net/',
    '--param=jwtAudience=netmon-graphs',
  ]);
  open = await packaged('open', ['--param=graphApiAuth=none', '--param=graphApiRateLimit=3']);
}, 600_000);

afterAll(async () => {
  await new Promise((resolve) => awsListener?.close(resolve));
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('serverless.yml publicRead', () => {
  it('off by default: no statement grants anyone anything, and public access is blocked entirely', () => {
    for (const template of [off, explicitOff]) {
      expect(publicGrants(template)).toEqual([]);
      expect(bucketStatements(template).map((statement) => statement.Sid)).toEqual(['TlsOnly']);
      expect(publicAccessBlock(template)).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
    }
    expect(comparable(explicitOff)).toEqual(comparable(off));
    expect(awsConnections).toBe(0);
  });

  it('on: anyone may s3:GetObject on graphs/* and nothing else; TLS is still required', () => {
    expect(publicGrants(on)).toEqual([
      {
        Sid: 'PublicReadGraphs',
        Effect: 'Allow',
        Principal: '*',
        Action: 's3:GetObject',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax
        Resource: { 'Fn::Sub': '${NetmonBucket.Arn}/graphs/*' },
      },
    ]);
    expect(bucketStatements(on)).toContainEqual(bucketStatements(off)[0]);
    expect(bucketStatements(on)).toHaveLength(2);
  });

  it('on: relaxes only what a public bucket policy needs; ACLs stay blocked and disabled', () => {
    expect(publicAccessBlock(on)).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: false,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: false,
    });
    expect(on.Resources.NetmonBucket?.Properties.OwnershipControls).toEqual({
      Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }],
    });
    // Nothing else in the stack differs: no role, function or the deployment bucket.
    expect(withoutPublicRead(on)).toEqual(withoutPublicRead(off));
  });

  it("outputs the latest graph's https URL (public with publicRead)", () => {
    expect(on.Outputs.GraphUrl?.Value).toEqual({
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax
      'Fn::Sub': 'https://${NetmonBucket.RegionalDomainName}/graphs/latest/graph.svg',
    });
  });

  it('refuses a value other than true or false at packaging, at the public access block', async () => {
    const { result } = await osls('bad', ['--param=publicRead=yes']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout + result.stderr).toContain(
      'NetmonBucket.Properties.PublicAccessBlockConfiguration.BlockPublicPolicy',
    );
    expect(awsConnections).toBe(0);
  });
});

function ofType(template: Template, type: string): Json[] {
  return Object.values(template.Resources)
    .filter((resource) => resource.Type === type)
    .map((resource) => resource.Properties);
}

describe('serverless.yml graphApiAuth: who may call the graph API, how often', () => {
  it('iam by default: every route needs a SigV4-signed caller, no authorizer of ours', () => {
    const routes = ofType(off, 'AWS::ApiGatewayV2::Route');
    expect(routes.map((route) => route.RouteKey).sort()).toEqual(['GET /', 'GET /{proxy+}']);
    for (const route of routes) expect(route.AuthorizationType).toBe('AWS_IAM');
    expect(ofType(off, 'AWS::ApiGatewayV2::Authorizer')).toEqual([]);
  });

  it('jwt: every route checks a bearer token against the issuer and audience given', () => {
    const [authorizer, ...more] = ofType(jwt, 'AWS::ApiGatewayV2::Authorizer');
    expect(more).toEqual([]);
    expect(authorizer).toMatchObject({
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: 'https://issuer.example.net/', Audience: ['netmon-graphs'] },
    });
    for (const route of ofType(jwt, 'AWS::ApiGatewayV2::Route'))
      expect(route).toMatchObject({ AuthorizationType: 'JWT', AuthorizerId: { Ref: expect.any(String) } });
  });

  it('none only when asked for; every mode throttled (default 10/s, bursts of 20)', () => {
    for (const route of ofType(open, 'AWS::ApiGatewayV2::Route'))
      expect(route.AuthorizationType).toBeUndefined();
    // A --param value arrives as a string ("3"): CloudFormation takes numeric strings for numbers.
    const throttling = (template: Template): number[] => {
      const settings = ofType(template, 'AWS::ApiGatewayV2::Stage')[0]?.DefaultRouteSettings as Json;
      return [Number(settings.ThrottlingRateLimit), Number(settings.ThrottlingBurstLimit)];
    };
    expect(throttling(off)).toEqual([10, 20]);
    expect(throttling(jwt)).toEqual([10, 20]);
    expect(throttling(open)).toEqual([3, 20]);
  });

  it('refuses an unknown mode at packaging', async () => {
    const { result } = await osls('bad-auth', ['--param=graphApiAuth=open']);
    expect(result.exitCode).not.toBe(0);
    expect(awsConnections).toBe(0);
  });
});
