import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/local-stack/prometheus.ts';
import { SimCluster } from '../../infra/rig/sim-cluster.ts';
import { type RunResult, startProcess, waitFor } from '../../layers/core/process.ts';
import { netmon } from '../helpers/cli.ts';
import { type StackFixture, startStackFixture } from '../helpers/local-stack.ts';
import { startPlan, startProbe, startRender } from '../helpers/probes.ts';

/**
 * A planted secret (the basic-auth password of the Pushgateway and Prometheus
 * URLs, a wrong S3 secret key) must appear in no output: not in plan, probe or
 * render stdout/stderr at debug level, not in what the round stores, not in
 * any graph API answer (/healthz, graphs, 4xx/5xx bodies) nor its logs, and
 * not in any error path (peer unreachable, S3 refusing, a malformed setting).
 * Prometheus and the Pushgateway run without auth here: they ignore the header.
 */
const SECRET = `planted${Math.random().toString(36).slice(2, 10)}`;
const GRAPH_API = fileURLToPath(new URL('../../dist/graph-api.js', import.meta.url));

let fixture: StackFixture;
let cluster: SimCluster;
let env: NodeJS.ProcessEnv;
/** Everything any process or HTTP answer said, by where it came from. */
const outputs: Array<{ from: string; text: string }> = [];

function withUser(url: string): string {
  const parsed = new URL(url);
  parsed.username = 'netmon';
  parsed.password = SECRET;
  return parsed.toString();
}

function keep(from: string, result: RunResult): RunResult {
  outputs.push(
    { from: `${from} stdout`, text: result.stdout },
    { from: `${from} stderr`, text: result.stderr },
  );
  return result;
}

function leaks(): string[] {
  return outputs.filter((o) => o.text.includes(SECRET)).map((o) => `${o.from}: ${o.text.slice(0, 400)}`);
}

/** The graph API bundle as the Deployment runs it; every answer to `paths` is kept. */
async function askGraphApi(
  from: string,
  extra: NodeJS.ProcessEnv,
  paths: readonly string[],
): Promise<number[]> {
  const port = await freePort();
  const server = startProcess([process.execPath, GRAPH_API], {
    env: { ...env, NETMON_GRAPH_API_PORT: String(port), NETMON_GRAPH_API_ADDRESS: '127.0.0.1', ...extra },
    timeoutMs: 60_000,
  });
  const base = `http://127.0.0.1:${port}`;
  const statuses: number[] = [];
  try {
    await waitFor(
      'the graph API to listen',
      async () => (await fetch(`${base}/healthz`).catch(() => null)) !== null,
      {
        timeoutMs: 20_000,
      },
    );
    for (const path of paths) {
      const response = await fetch(`${base}${path}`);
      statuses.push(response.status);
      outputs.push({ from: `${from} GET ${path} ${response.status}`, text: await response.text() });
    }
  } finally {
    keep(from, await server.stop());
  }
  return statuses;
}

async function storedTexts(dir: string): Promise<Array<{ from: string; text: string }>> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return Promise.all(
    entries
      .filter((e) => e.isFile() && !e.name.endsWith('.gz'))
      .map(async (e) => ({ from: `S3 ${e.name}`, text: await readFile(join(e.parentPath, e.name), 'utf8') })),
  );
}

beforeAll(async () => {
  fixture = await startStackFixture();
  cluster = await SimCluster.create({ nodes: [{ name: 'a' }, { name: 'b' }] });
  await fixture.writeNodes(cluster.clusterNodes());
  env = {
    ...fixture.env,
    NETMON_PUSHGATEWAY_URL: withUser(fixture.stack.pushgatewayUrl),
    NETMON_PROMETHEUS_URL: withUser(fixture.stack.prometheusUrl),
    NETMON_SCHEDULES: JSON.stringify([{ name: 'secret', cron: '* * * * *', test: 'ping', lengthSeconds: 2 }]),
    NETMON_GRAPH_API_SOURCE: 'prometheus',
    LOG_LEVEL: 'debug',
  };
}, 60_000);

afterAll(async () => {
  await cluster?.destroy();
  await fixture?.stop();
});

describe('a planted secret', () => {
  it('appears in no output of a round: plan, probe, render, what they store, the graph API', async () => {
    expect(keep('plan', await startPlan(env).done).exitCode).toBe(0);
    expect(keep('probe', await startProbe(env).done).exitCode).toBe(0);
    await waitFor(
      'Prometheus to scrape the round',
      async () =>
        (await fetch(`${fixture.stack.prometheusUrl}/api/v1/query?query=netmon_connectivity`))
          .text()
          .then((t) => t.includes('"dst"')),
      { timeoutMs: 30_000 },
    );
    expect(keep('render', await startRender(env).done).exitCode).toBe(0);
    outputs.push(...(await storedTexts(fixture.stack.s3Directory)));
    const statuses = await askGraphApi('graph API', {}, [
      '/healthz',
      '/graph.svg',
      '/graph.json',
      '/metrics',
      '/graph.svg?metric=nope',
      '/nope',
    ]);
    expect(statuses).toEqual([200, 200, 200, 200, 400, 404]);
    expect(JSON.parse(outputs.find((o) => o.from.includes('/healthz'))?.text ?? '{}').from).toMatch(
      /^http:\/\/\*\*\*@127\.0\.0\.1:/,
    );
    expect(leaks()).toEqual([]);
  }, 240_000);

  it('appears in no error path: peers unreachable, S3 refusing the key, malformed URLs', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const down = { NETMON_PUSHGATEWAY_URL: withUser(closed), NETMON_PROMETHEUS_URL: withUser(closed) };
    // Each error path is taken (its message names the endpoint) and shows no secret.
    expect(keep('plan, gateway down', await startPlan({ ...env, ...down }).done).stderr).toContain('***@');
    expect(keep('render, Prometheus down', await startRender({ ...env, ...down }).done).stderr).toContain(
      'query Prometheus at',
    );
    // The graph first: its 502 is the source's failure that /healthz then reports (503, naming the URL).
    expect(await askGraphApi('graph API, Prometheus down', down, ['/graph.svg', '/healthz'])).toEqual([
      502, 503,
    ]);
    // s3rver checks only the key id: an unknown one makes it refuse, with the planted secret key beside it.
    const badKey = {
      AWS_ACCESS_KEY_ID: 'NOTS3RVER',
      AWS_SECRET_ACCESS_KEY: SECRET,
      NETMON_GRAPH_API_SOURCE: 's3',
    };
    const refused = keep('plan, S3 refusing', await startPlan({ ...env, ...badKey }).done);
    expect(refused.stdout + refused.stderr).toContain('Access Key Id');
    expect(await askGraphApi('graph API, S3 refusing', badKey, ['/graph.svg'])).toEqual([502]);
    for (const url of [
      `http//netmon:${SECRET}@host`,
      `ftp://netmon:${SECRET}@host`,
      `http://netmon:${SECRET}@ho st`,
    ]) {
      const result = keep(
        `render, NETMON_PROMETHEUS_URL=${url}`,
        await startRender({ ...env, NETMON_PROMETHEUS_URL: url }).done,
      );
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain('NETMON_PROMETHEUS_URL');
    }
    keep(
      'netmon results list, S3 refusing',
      await netmon(['results', 'list'], 60_000, { ...env, ...badKey }),
    );
    expect(leaks()).toEqual([]);
  }, 180_000);
});
