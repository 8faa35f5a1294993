import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { NetmonError } from '../../layers/core/errors.ts';
import { findOnPath } from '../../layers/core/host.ts';
import { log } from '../../layers/core/log.ts';
import { lastLines, type ManagedProcess, startProcess, waitFor } from '../../layers/core/process.ts';
import { onShutdown } from '../../layers/core/shutdown.ts';
import { instantQuery } from '../../layers/metrics/query.ts';

/**
 * The real Pushgateway and Prometheus (Debian's binaries) on loopback ports,
 * for tests and the demo. Everything lives in one temporary directory (config,
 * TSDB) that stop() removes; both processes run in their own process groups
 * and are killed on stop() and on SIGINT/SIGTERM. The stack is returned once
 * Prometheus has scraped the gateway a first time.
 */

export interface PrometheusStackOptions {
  /** Parent of the stack's temporary directory (default: the OS temp dir). */
  dir?: string;
  /** How often Prometheus scrapes the gateway (default 1 s). */
  scrapeIntervalSeconds?: number;
  /** How long each binary may take to report ready (default 30 s). */
  readyTimeoutMs?: number;
}

export interface PrometheusStack {
  pushgatewayUrl: string;
  prometheusUrl: string;
  /** The stack's temporary directory (config, TSDB); gone after stop(). */
  dir: string;
  /** Process ids of the gateway and Prometheus, for leak checks. */
  pids: readonly number[];
  /** Stops both (SIGTERM, then SIGKILL after 2 s) and removes `dir`; safe to call twice. */
  stop(): Promise<void>;
}

/** The local stack could not be started. */
export class LocalStackError extends NetmonError {
  override name = 'LocalStackError';
}

const BINARIES = { prometheus: 'prometheus', pushgateway: 'prometheus-pushgateway' } as const;
const INSTALL_HINT = 'install prometheus prometheus-pushgateway: bash infra/system/install.sh';
/** A free port can be taken by someone else between our probe and the binary's bind. */
const BIND_ATTEMPTS = 5;

export async function startPrometheusStack(options: PrometheusStackOptions = {}): Promise<PrometheusStack> {
  const binaries = locateBinaries();
  const interval = options.scrapeIntervalSeconds ?? 1;
  if (!(interval > 0)) throw new LocalStackError(`scrapeIntervalSeconds must be > 0, got ${interval}`);
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const dir = await mkdtemp(join(options.dir ?? tmpdir(), 'netmon-prometheus-'));
  const unregisterDir = onShutdown(`remove ${dir}`, () => rm(dir, { recursive: true, force: true }));
  const started: ManagedProcess[] = [];
  const stop = async (): Promise<void> => {
    // Newest first: Prometheus stops scraping before the gateway goes away.
    for (const proc of started.reverse()) await proc.stop();
    started.length = 0;
    await rm(dir, { recursive: true, force: true });
    unregisterDir();
  };
  try {
    const gateway = await startOnFreePort(
      'pushgateway',
      (port) => [
        binaries.pushgateway,
        `--web.listen-address=127.0.0.1:${port}`,
        // Debian's default persists to /var/lib: a test gateway keeps nothing.
        '--persistence.file=',
        '--log.level=warn',
      ],
      readyTimeoutMs,
    );
    started.push(gateway.process);
    const configFile = join(dir, 'prometheus.yml');
    await writeFile(configFile, prometheusConfig(gateway.port, interval));
    const prometheus = await startOnFreePort(
      'prometheus',
      (port) => [
        binaries.prometheus,
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      readyTimeoutMs,
    );
    started.push(prometheus.process);
    await waitFirstScrape(prometheus.url, readyTimeoutMs);
    const pids = [gateway.process.pid, prometheus.process.pid].filter((pid) => pid !== undefined);
    return { pushgatewayUrl: gateway.url, prometheusUrl: prometheus.url, dir, pids, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function locateBinaries(): { prometheus: string; pushgateway: string } {
  // Debian installs both in /usr/bin; a PATH without it should not hide them.
  const searchPath = [process.env.PATH ?? '', '/usr/bin', '/usr/local/bin'].join(delimiter);
  const prometheus = findOnPath(BINARIES.prometheus, searchPath);
  const pushgateway = findOnPath(BINARIES.pushgateway, searchPath);
  if (prometheus === undefined || pushgateway === undefined) {
    const missing = [prometheus ? null : BINARIES.prometheus, pushgateway ? null : BINARIES.pushgateway];
    throw new LocalStackError(`${missing.filter(Boolean).join(' and ')} not found; ${INSTALL_HINT}`);
  }
  return { prometheus, pushgateway };
}

/** The generated Prometheus config: the gateway only, keeping the pushed job/instance labels. */
export function prometheusConfig(gatewayPort: number, intervalSeconds: number): string {
  const interval = `${Math.round(intervalSeconds * 1000)}ms`;
  return [
    'global:',
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    'scrape_configs:',
    '  - job_name: pushgateway',
    '    honor_labels: true',
    `    scrape_interval: ${interval}`,
    // The default timeout (10 s) would exceed a short interval, which Prometheus rejects.
    `    scrape_timeout: ${interval}`,
    '    static_configs:',
    `      - targets: ['127.0.0.1:${gatewayPort}']`,
    '',
  ].join('\n');
}

/** A port that was free a moment ago (the kernel's pick for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

interface Started {
  process: ManagedProcess;
  port: number;
  url: string;
}

async function startOnFreePort(
  name: string,
  argvFor: (port: number) => string[],
  readyTimeoutMs: number,
): Promise<Started> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const proc = startProcess(argvFor(port), { maxOutputBytes: 64 << 10 });
    const outcome = await waitReady(name, proc, url, readyTimeoutMs);
    if (outcome === 'ready') {
      log.debug({ name, url, attempt }, 'local stack service ready');
      return { process: proc, port, url };
    }
    const result = await proc.done;
    const output = result.stderr || result.stdout;
    if (/address already in use/i.test(output) && attempt < BIND_ATTEMPTS) continue;
    throw new LocalStackError(
      `${name} exited (${result.exitCode ?? result.signal}) before it was ready on ${url}: ${lastLines(output, 3)}`,
    );
  }
}

/** 'ready' once GET /-/ready answers 200; 'exited' if the process died first. */
async function waitReady(
  name: string,
  proc: ManagedProcess,
  url: string,
  timeoutMs: number,
): Promise<'ready' | 'exited'> {
  let ready = false;
  try {
    await waitFor(
      `${name} ready on ${url}/-/ready`,
      async () => {
        if (!proc.running) return true;
        ready = await isReady(`${url}/-/ready`);
        return ready;
      },
      { timeoutMs, intervalMs: 50 },
    );
  } catch (err) {
    await proc.stop();
    throw new LocalStackError(`${name} did not become ready: ${(err as Error).message}`, { cause: err });
  }
  return ready ? 'ready' : 'exited';
}

/**
 * Prometheus applies new scrape targets only every 5 s, so its first scrape of
 * the gateway comes seconds after /-/ready. The stack counts as started once
 * that scrape succeeded: from then on a push shows within one interval.
 */
async function waitFirstScrape(prometheusUrl: string, timeoutMs: number): Promise<void> {
  const gatewayUp = async (): Promise<boolean> => {
    const samples = await instantQuery(prometheusUrl, 'up{job="pushgateway"} == 1').catch(() => []);
    return samples.length > 0;
  };
  try {
    await waitFor('the first scrape of the gateway', gatewayUp, { timeoutMs, intervalMs: 100 });
  } catch (err) {
    throw new LocalStackError(`prometheus never scraped the gateway: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

async function isReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}
