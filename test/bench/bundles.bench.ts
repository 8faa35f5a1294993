/**
 * Per function: bundle size and cold start, each against its target.
 *
 * Cold start is the time from process start to the handler being ready:
 * the bundle imported, its settings read and its clients built, before any
 * I/O. `node dist/<name>.js` runs with NETMON_EXIT_WHEN_READY=1, which makes
 * the handler print `ready <name> <ms>` (performance.now(), whose origin is
 * the process start) and exit at that point (layers/core/handler.ts
 * markReady). Every endpoint is a TEST-NET address that is never contacted.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleAll } from '../../infra/build/bundle.ts';
import { runProcess } from '../../layers/core/process.ts';
import { line, median } from './report.ts';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const RUNS = 7;
const MB = 1e6;
const SIZE_TARGETS: Record<string, number> = {
  plan: 2.5 * MB,
  probe: 2.5 * MB,
  render: 2.5 * MB,
  agent: 1 * MB,
};
const COLD_START_TARGETS_MS: Record<string, number> = { plan: 350, probe: 350, render: 350, agent: 150 };

const verdict = (met: boolean): string => (met ? 'met' : 'MISSED');

/** Settings that let each handler get ready; nothing here is ever reached. */
function settings(dir: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LOG_LEVEL: 'warn',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    NETMON_S3_BUCKET: 'netmon-bench',
    NETMON_S3_ENDPOINT: 'http://198.18.0.1:9000',
    NETMON_SQS_ENDPOINT: 'http://198.18.0.1:9324',
    NETMON_SQS_QUEUE_URL: 'http://198.18.0.1:9324/000000000000/work.fifo',
    NETMON_PUSHGATEWAY_URL: 'http://198.18.0.1:9091',
    NETMON_PROMETHEUS_URL: 'http://198.18.0.1:9090',
    NETMON_NODES_FILE: join(dir, 'nodes.json'),
    NETMON_SCHEDULES: JSON.stringify([{ name: 'bench', cron: '* * * * *', test: 'ping', lengthSeconds: 5 }]),
    NETMON_LOCK_FILE: join(dir, 'test.lock'),
    NETMON_WORK_DIR: join(dir, 'runs'),
    NETMON_AGENT_HOST: '198.18.0.2',
    NETMON_AGENT_TEST: 'ping',
    NETMON_AGENT_LENGTH_SECONDS: '5',
    NETMON_AGENT_SCHEDULE: 'bench',
    NETMON_AGENT_SRC: 'node-1',
    NETMON_AGENT_DST: 'node-2',
    NETMON_TERMINATION_LOG: join(dir, 'termination-log'),
  };
}

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{ name: bench, cluster: { server: "https://198.18.0.1:6443", insecure-skip-tls-verify: true } }]
users: [{ name: bench, user: { token: bench } }]
contexts: [{ name: bench, context: { cluster: bench, user: bench, namespace: netmon } }]
current-context: bench
`;

/** Median ms from process start to `ready`, over RUNS runs. */
async function coldStart(file: string, env: Record<string, string>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const result = await runProcess([process.execPath, file], {
      env: { ...env, NETMON_EXIT_WHEN_READY: '1' },
      timeoutMs: 30_000,
    });
    const ready = /^ready \S+ ([\d.]+)$/m.exec(result.stdout);
    if (result.exitCode !== 0 || ready?.[1] === undefined) {
      throw new Error(`${file} did not get ready (exit ${result.exitCode}): ${result.stderr.slice(-500)}`);
    }
    times.push(Number(ready[1]));
  }
  return median(times);
}

export default async function bundles(): Promise<void> {
  const built = await bundleAll();
  for (const { name, bytes } of built) {
    const target = SIZE_TARGETS[name];
    const size = `${(bytes / MB).toFixed(2)} MB`;
    line(
      `bundle ${name} (minified)`,
      target === undefined ? size : `${size} (target <= ${target / MB} MB: ${verdict(bytes <= target)})`,
    );
  }

  const dir = await mkdtemp(join(tmpdir(), 'netmon-bench-'));
  try {
    await writeFile(join(dir, 'nodes.json'), '[]');
    await writeFile(join(dir, 'kubeconfig'), KUBECONFIG);
    const local = settings(dir);
    const kubernetes = { ...local, NETMON_RUNNER: 'kubernetes', KUBECONFIG: join(dir, 'kubeconfig') };
    // plan and probe in the cloud and in a cluster use the Kubernetes runner; the local runner is the embedded default.
    const cases: Array<{ name: string; runner?: string; env: Record<string, string> }> = [
      { name: 'plan', runner: 'kubernetes', env: kubernetes },
      { name: 'plan', runner: 'local', env: local },
      { name: 'probe', runner: 'kubernetes', env: kubernetes },
      { name: 'probe', runner: 'local', env: local },
      { name: 'render', env: local },
      { name: 'agent', env: local },
    ];
    for (const { name, runner, env } of cases) {
      const ms = await coldStart(join(DIST, `${name}.js`), env);
      const target = COLD_START_TARGETS_MS[name] ?? Number.POSITIVE_INFINITY;
      line(
        `cold start ${name}${runner === undefined ? '' : ` (${runner})`}`,
        `${ms.toFixed(0)} ms, median of ${RUNS} (target < ${target} ms: ${verdict(ms < target)})`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const result = await runProcess([process.execPath, join(DIST, 'cli.js'), '--help'], {
      timeoutMs: 10_000,
    });
    times.push(result.durationMs);
  }
  line('cold start cli (--help, to exit)', `${median(times).toFixed(0)} ms, median of ${RUNS}`);
}
