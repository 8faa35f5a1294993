import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3, startLocalS3 } from '../../infra/local-stack/s3.ts';
import { SimCluster } from '../../infra/rig/sim-cluster.ts';
import { type ManagedProcess, runProcess, startProcess, waitFor } from '../../layers/core/process.ts';
import { parseArchive } from '../../layers/flent/archive.ts';
import { decodeReport } from '../../layers/flent/compact.ts';
import { storeFrom } from '../../layers/wiring/context.ts';

/**
 * The agent bundle as the client pod runs it: inside src's namespace, against
 * a netserver in dst's namespace, archive to s3rver, report to a termination log.
 */
const AGENT = fileURLToPath(new URL('../../dist/agent.js', import.meta.url));
let cluster: SimCluster;
let s3: LocalS3;
let dir: string;
let netserver: ManagedProcess;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netmon-agent-'));
  cluster = await SimCluster.create({
    nodes: [{ name: 'src', rateBitsPerSecond: 20e6 }, { name: 'dst' }, { name: 'idle' }],
    hostAddress: true,
  });
  // S3 where the nodes reach it, as a cluster reaches its object store.
  s3 = await startLocalS3(join(dir, 's3'), 'netmon', cluster.hostAddress);
  const dst = cluster.node('dst');
  netserver = startProcess([
    ...cluster.prefix('dst'),
    'netserver',
    '-D',
    '-4',
    '-L',
    dst.address,
    '-p',
    '12865',
  ]);
  await waitFor('netserver', async () =>
    (await runProcess([...cluster.prefix('dst'), 'ss', '-Hltn', 'sport', '=', ':12865'])).stdout.includes(
      dst.address,
    ),
  );
  env = {
    ...process.env,
    LOG_LEVEL: 'warn',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    NETMON_S3_BUCKET: s3.bucket,
    NETMON_S3_ENDPOINT: s3.endpoint,
    NETMON_AGENT_TEST: 'tcp_upload',
    NETMON_AGENT_LENGTH_SECONDS: '2',
    NETMON_AGENT_DELAY_SECONDS: '1',
    NETMON_AGENT_SCHEDULE: 'agent',
    NETMON_AGENT_SRC: 'src',
    NETMON_AGENT_DST: 'dst',
    NETMON_WORK_DIR: dir,
  };
}, 60_000);

afterAll(async () => {
  await netserver?.stop();
  await cluster?.destroy();
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function agent(
  host: string,
  extra: NodeJS.ProcessEnv = {},
): Promise<{ exitCode: number | null; report: string }> {
  const log = join(dir, `termination-${Date.now()}`);
  const result = await runProcess([...cluster.prefix('src'), process.execPath, AGENT], {
    env: { ...env, NETMON_AGENT_HOST: host, NETMON_TERMINATION_LOG: log, ...extra },
    timeoutMs: 60_000,
  });
  return { exitCode: result.exitCode, report: await readFile(log, 'utf8').catch(() => result.stderr) };
}

describe('agent', () => {
  it('measures, stores the archive in S3 and reports through the termination log', async () => {
    const { exitCode, report } = await agent(cluster.node('dst').address);
    expect(exitCode).toBe(0);
    expect(Buffer.byteLength(report)).toBeLessThanOrEqual(4096);
    const decoded = decodeReport(report);
    expect(decoded.outcome.ok).toBe(true);
    if (decoded.outcome.ok)
      expect(decoded.outcome.summary.throughput.upload.total?.mean).toBeGreaterThan(15e6);
    const bytes = await storeFrom(env).getBytes(decoded.archiveKey ?? '');
    expect(parseArchive(bytes ?? new Uint8Array()).metadata.NAME).toBe('tcp_upload');
  }, 60_000);

  it('reports a measured failure and still exits 0', async () => {
    const { exitCode, report } = await agent(cluster.node('idle').address);
    expect(exitCode).toBe(0);
    const decoded = decodeReport(report);
    expect(decoded.outcome.ok).toBe(false);
    if (!decoded.outcome.ok) expect(decoded.outcome.failure.reason).toBe('server-missing');
  }, 60_000);

  it('S3 away: retries the upload for NETMON_STORE_RETRY_SECONDS, then reports store-unavailable and exits 0', async () => {
    const started = Date.now();
    const { exitCode, report } = await agent(cluster.node('dst').address, {
      // Nothing listens there: every connection is refused, as when S3 is down.
      NETMON_S3_ENDPOINT: `http://${cluster.hostAddress ?? '127.0.0.1'}:9`,
      NETMON_STORE_RETRY_SECONDS: '2',
    });
    expect(exitCode, report).toBe(0);
    const decoded = decodeReport(report);
    expect(decoded.archiveKey).toBeNull();
    expect(decoded.outcome).toMatchObject({ ok: false, failure: { reason: 'store-unavailable' } });
    if (!decoded.outcome.ok) expect(decoded.outcome.failure.message).toMatch(/S3 did not take its archive/);
    // The test itself (2 s plus 1 s delays) and then the retries.
    expect(Date.now() - started).toBeGreaterThan(4000);
  }, 60_000);

  it('exits non-zero for its own fault (S3 refusing it), saying why', async () => {
    const { exitCode, report } = await agent(cluster.node('dst').address, {
      NETMON_S3_BUCKET: 'no-such-bucket',
    });
    expect(exitCode).not.toBe(0);
    expect(report).toMatch(/agent fault: .*put archives\/agent\//);
  }, 60_000);
});
