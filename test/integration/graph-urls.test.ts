import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../layers/core/process.ts';
import { renderGraphSet } from '../../layers/graph/index.ts';
import type { GraphLinks } from '../../layers/pipeline/graph-links.ts';
import { type RenderReport, storeGraphs } from '../../layers/pipeline/render.ts';
import { GRAPH_SET_FILES, type GraphSetFile } from '../../layers/store/keys.ts';
import { makeS3Client, type ObjectStore } from '../../layers/store/s3-store.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import { sampleModel } from '../fixtures/graph/models.ts';
import { netmon } from '../helpers/cli.ts';
import { type StackFixture, startStackFixture } from '../helpers/local-stack.ts';
import { startRender } from '../helpers/probes.ts';

/**
 * Links a person can open: `netmon graphs urls` (the built CLI, run as users
 * run it) and render's report with NETMON_GRAPH_LINK_SECONDS, against a real
 * S3 (s3rver) and opened with a plain fetch that sends no credentials.
 *
 * What s3rver checks of a presigned URL: the access key, and the expiry
 * (X-Amz-Date + X-Amz-Expires). What it does not: the SigV4 signature itself
 * (it admits anonymous GETs too). So the signature is checked here by shape:
 * a browser can open the URL only if `host` is its one signed header.
 */

const FILES = Object.keys(GRAPH_SET_FILES) as GraphSetFile[];
const NAMES = FILES.map((file) => GRAPH_SET_FILES[file].name);
const OLDER = new Date('2026-11-25T06:00:00.000Z');
const NEWER = new Date('2026-11-26T07:50:12.345Z');
/** Any secret passes s3rver's SigV4 check; a distinct one shows it is never printed. */
const SECRET = 'netmon-test-secret-never-printed';

let fixture: StackFixture;
let store: ObjectStore;
let cliEnv: NodeJS.ProcessEnv;
let home: string;

/** Only what the CLI is given here: no AWS profile, no instance metadata, so credentials come from these settings alone. */
function bareEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: join(home, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
    ...extra,
  };
}

function urls(args: readonly string[], env: NodeJS.ProcessEnv = cliEnv) {
  return netmon(['graphs', 'urls', ...args], 60_000, env);
}

async function linksOf(args: readonly string[]): Promise<GraphLinks> {
  const result = await urls([...args, '--json']);
  expect(result.exitCode, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as GraphLinks;
}

beforeAll(async () => {
  fixture = await startStackFixture();
  home = await mkdtemp(join(tmpdir(), 'netmon-graph-urls-home-'));
  cliEnv = bareEnv({
    NETMON_S3_BUCKET: fixture.env.NETMON_S3_BUCKET ?? '',
    NETMON_S3_ENDPOINT: fixture.env.NETMON_S3_ENDPOINT ?? '',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: SECRET,
  });
  store = storeFrom(fixture.env);
  const rendered = await renderGraphSet(sampleModel());
  await storeGraphs(store, rendered, OLDER, 10);
  await storeGraphs(store, rendered, NEWER, 10);
  // A file render does not write (an operator's own), in this set only.
  await store.putText(
    'graphs/20261126T075012.345Z/graph-extra.svg',
    '<svg xmlns="http://www.w3.org/2000/svg"/>\n',
    'image/svg+xml',
  );
}, 120_000);

afterAll(async () => {
  await fixture?.stop();
  if (home !== undefined) await rm(home, { recursive: true, force: true });
});

describe('netmon graphs urls', () => {
  it('links every file of the latest set; a plain GET of each returns the stored bytes and Content-Type', async () => {
    const links = await linksOf([]);
    expect(links).toMatchObject({
      bucket: 'netmon',
      set: 'latest',
      prefix: 'graphs/latest/',
      expiresSeconds: 3600,
    });
    expect(links.files.map((file) => file.name)).toEqual(NAMES);
    const expiresIn = Date.parse(links.expiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(3500_000);
    expect(expiresIn).toBeLessThanOrEqual(3600_000);
    for (const file of links.files) {
      const url = new URL(file.url);
      expect(`${url.origin}${url.pathname}`).toBe(`${fixture.env.NETMON_S3_ENDPOINT}/netmon/${file.key}`);
      expect(url.searchParams.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
      expect(url.searchParams.get('X-Amz-Credential')).toMatch(
        /^S3RVER\/\d{8}\/us-east-1\/s3\/aws4_request$/,
      );
      expect(url.searchParams.get('X-Amz-Expires')).toBe('3600');
      expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host');
      expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);

      const response = await fetch(file.url);
      expect(response.status, file.name).toBe(200);
      expect(response.headers.get('content-type'), file.name).toBe(file.contentType);
      const body = Buffer.from(await response.arrayBuffer());
      expect(body.equals(Buffer.from((await store.getBytes(file.key)) ?? [])), file.name).toBe(true);
    }
    const svg = links.files.find((file) => file.name === 'graph.svg');
    expect(svg?.contentType).toBe('image/svg+xml');
    expect((await (await fetch(svg?.url ?? '')).text()).length).toBeGreaterThan(1000);
  });

  it('prints one "name  URL" line per file, and on stderr the set and until when the links open; never the secret', async () => {
    const result = await urls(['--expires', '2h30m']);
    expect(result.exitCode, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines.map((line) => line.split(/\s+/)[0])).toEqual(NAMES);
    for (const line of lines)
      expect(line).toMatch(/^\S+ +http:\/\/127\.0\.0\.1:\d+\/netmon\/graphs\/latest\/\S+X-Amz-Expires=9000&/);
    expect(result.stderr).toMatch(
      new RegExp(
        `^graph set latest \\(s3://netmon/graphs/latest/\\): ${NAMES.length} files; the links open without credentials until \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(2h30m\\)\n$`,
      ),
    );
    expect(result.stdout + result.stderr).not.toContain(SECRET);
  });

  it("--set: a timestamped set by folder name or ISO time; a file render does not write is listed after render's", async () => {
    const byFolder = await linksOf(['--set', '20261126T075012.345Z', '--expires', '7d']);
    expect(byFolder.prefix).toBe('graphs/20261126T075012.345Z/');
    expect(byFolder.expiresSeconds).toBe(604_800);
    expect(byFolder.files.map((file) => file.name)).toEqual([...NAMES, 'graph-extra.svg']);
    const zones = byFolder.files.at(-1);
    expect(zones?.contentType).toBe('image/svg+xml');
    const response = await fetch(zones?.url ?? '');
    expect(response.headers.get('content-type')).toBe('image/svg+xml');
    expect(await response.text()).toBe('<svg xmlns="http://www.w3.org/2000/svg"/>\n');

    const byIso = await linksOf(['--set', '2026-11-25T06:00:00Z']);
    expect(byIso.set).toBe('20261125T060000.000Z');
    expect(byIso.files.map((file) => file.name)).toEqual(NAMES);
    expect((await linksOf([])).files.map((file) => file.name)).not.toContain('graph-extra.svg');
  });

  it('an expired link is refused (--expires 1s)', async () => {
    const [first] = (await linksOf(['--expires', '1s'])).files;
    const url = first?.url ?? '';
    let refusal = '';
    await waitFor(
      'the 1 s link to be refused',
      async () => {
        const response = await fetch(url);
        refusal = await response.text();
        return response.status === 403;
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    expect(refusal).toContain('<Code>AccessDenied</Code>');
    expect(refusal).toContain('Request has expired');
  });

  it('a set that does not exist: exit 2, naming the newest sets there are', async () => {
    const result = await urls(['--set', '20200101T000000.000Z']);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'netmon: --set: "20200101T000000.000Z" is not valid; expected latest or a set in s3://netmon/graphs/; the newest: 20261126T075012.345Z, 20261125T060000.000Z\n',
    );
  });

  it('a bucket with no graphs yet: exit 2, saying render has not written any', async () => {
    await makeS3Client({
      NETMON_S3_BUCKET: 'netmon-empty',
      NETMON_S3_ENDPOINT: fixture.env.NETMON_S3_ENDPOINT,
      NETMON_S3_REGION: 'us-east-1',
      NETMON_S3_FORCE_PATH_STYLE: true,
      NETMON_S3_CHECKSUMS: 'WHEN_REQUIRED',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    }).send(new CreateBucketCommand({ Bucket: 'netmon-empty' }));
    const result = await urls([], { ...cliEnv, NETMON_S3_BUCKET: 'netmon-empty' });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(
      'netmon: --set: "latest" is not valid; expected a graph set in s3://netmon-empty/graphs/, but there is none yet: render has not written one to this bucket',
    );
  });

  it('a wrong bucket: exit 2, naming NETMON_S3_BUCKET', async () => {
    const result = await urls([], { ...cliEnv, NETMON_S3_BUCKET: 'no-such-bucket' });
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `netmon: NETMON_S3_BUCKET: "no-such-bucket" is not valid; expected an existing bucket: S3 says there is no bucket ${fixture.env.NETMON_S3_ENDPOINT}/no-such-bucket/\n`,
    );
    const unset = await urls([], { ...cliEnv, NETMON_S3_BUCKET: '' });
    expect(unset.exitCode).toBe(2);
    expect(unset.stderr).toContain(
      'NETMON_S3_BUCKET: undefined (missing) is not valid; expected an S3 bucket name',
    );
  });

  it('no credentials, or refused ones: exit 2, naming what to set and never the secret', async () => {
    const none = await urls(
      [],
      bareEnv({
        NETMON_S3_BUCKET: 'netmon',
        NETMON_S3_ENDPOINT: fixture.env.NETMON_S3_ENDPOINT ?? '',
      }),
    );
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain(
      "netmon: AWS_ACCESS_KEY_ID: undefined (missing) is not valid; expected credentials to sign the links with: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile, role or web identity the AWS SDK's default chain finds (it found none)",
    );
    const refused = await urls([], { ...cliEnv, AWS_ACCESS_KEY_ID: 'AKIANOTKNOWNHERE0000' });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toBe(
      'netmon: AWS_ACCESS_KEY_ID: "[redacted]" is not valid; expected credentials S3 accepts: it refused these (InvalidAccessKeyId)\n',
    );
    expect(refused.stderr).not.toContain(SECRET);
    expect(refused.stderr).not.toContain('AKIANOTKNOWNHERE0000');
  });

  it.each([
    [['--expires', '8d'], '--expires: "8d" is not valid; expected a duration from 1s to 7d'],
    [['--expires', '604801'], '--expires: "604801" is not valid; expected a duration from 1s to 7d'],
    [['--expires', '0s'], '--expires: "0s" is not valid'],
    [['--expires', 'soon'], '--expires: "soon" is not valid'],
    [['--set', 'yesterday'], '--set: "yesterday" is not valid; expected latest, or a set\'s time'],
  ])('refuses %j before any request, naming what is valid (exit 2)', async (args, message) => {
    // No bucket setting at all: the flags are checked first.
    const result = await urls(args, bareEnv({}));
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`netmon: ${message}`);
    expect(result.stdout).toBe('');
  });
});

describe('render with NETMON_GRAPH_LINK_SECONDS', () => {
  async function runRender(extra: Record<string, string>): Promise<{ report: RenderReport; stderr: string }> {
    const result = await startRender({ ...fixture.env, LOG_LEVEL: 'info', ...extra }).done;
    expect(result.exitCode, result.stderr).toBe(0);
    return { report: JSON.parse(result.stdout) as RenderReport, stderr: result.stderr };
  }

  beforeAll(async () => {
    await fixture.writeNodes([
      { name: 'node-a', address: '10.0.0.1', ready: true, labels: {} },
      { name: 'node-b', address: '10.0.0.2', ready: true, labels: {} },
    ]);
  });

  it('the report holds a presigned link per file of the latest set, each opening without credentials', async () => {
    const started = Date.now();
    const { report, stderr } = await runRender({ NETMON_GRAPH_LINK_SECONDS: '600' });
    expect(report.nodes).toBe(2);
    expect(Object.keys(report.links?.urls ?? {})).toEqual(FILES);
    const expiresAt = Date.parse(report.links?.expiresAt ?? '');
    expect(expiresAt).toBeGreaterThanOrEqual(started + 600_000 - 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 600_000);
    for (const file of FILES) {
      const link = report.links?.urls[file] ?? '';
      expect(new URL(link).searchParams.get('X-Amz-Expires')).toBe('600');
      const response = await fetch(link);
      expect(response.status, file).toBe(200);
      expect(response.headers.get('content-type'), file).toBe(GRAPH_SET_FILES[file].contentType);
      const body = Buffer.from(await response.arrayBuffer());
      expect(body.equals(Buffer.from((await store.getBytes(report.stored.latest[file])) ?? [])), file).toBe(
        true,
      );
    }
    // The info log line says what was rendered; the signed links are in the report only.
    expect(stderr).toContain('graphs rendered');
    expect(stderr).not.toContain('X-Amz-Signature');
  });

  it('without it, no links; a value beyond 7 days is a configuration error (exit 2)', async () => {
    const { report } = await runRender({});
    expect(report.links).toBeUndefined();
    expect(report.urls.svg).toBe(`${fixture.env.NETMON_S3_ENDPOINT}/netmon/graphs/latest/graph.svg`);
    const tooLong = await startRender({ ...fixture.env, NETMON_GRAPH_LINK_SECONDS: '604801' }).done;
    expect(tooLong.exitCode).toBe(2);
    expect(tooLong.stderr).toContain(
      'NETMON_GRAPH_LINK_SECONDS: "604801" is not valid; expected whole seconds from 1 to 604800',
    );
  });
});
