import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readClockState } from '../core/clock.ts';
import { errorLine, RunnerError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { type ManagedProcess, runProcess, startProcess, waitFor } from '../core/process.ts';
import { type TestClocks, worseClock } from '../domain/one-way.ts';
import type { FlentOutcome } from '../domain/outcome.ts';
import { timed } from '../domain/phases.ts';
import type { RunHooks, Runner, RunnerNode, TestRequest } from '../domain/runner.ts';
import { DEFAULT_SERVER_PORTS, type ServerPorts } from '../domain/test-types.ts';
import { runFlent } from '../flent/run.ts';
import { flentTitle, validateFlentSpec } from '../flent/spec.ts';
import { encodeSegment } from '../store/keys.ts';

/** The local runner leaves the archive on this host: its outcome always says where. */
export type LocalTestOutcome = FlentOutcome & { src: string; dst: string; clocks: TestClocks };

export interface LocalRunnerOptions {
  /** Where each run gets its own directory for flent's archive. */
  workDir?: string;
  /** Where dst's netserver (TCP) and irtt server (UDP) listen. */
  ports?: ServerPorts;
  /** How long servers may take to listen. */
  serverReadyTimeoutMs?: number;
}

/**
 * The embedded default runner: netserver and an irtt server run in dst's
 * namespace, flent runs in src's namespace against dst's address. The servers
 * are stopped in every case.
 */
export class LocalRunner implements Runner {
  private readonly options: Required<LocalRunnerOptions>;

  constructor(options: LocalRunnerOptions = {}) {
    this.options = {
      workDir: options.workDir ?? join(tmpdir(), 'netmon-runs'),
      ports: options.ports ?? DEFAULT_SERVER_PORTS,
      serverReadyTimeoutMs: options.serverReadyTimeoutMs ?? 10_000,
    };
  }

  async run(request: TestRequest, hooks: RunHooks = {}): Promise<LocalTestOutcome> {
    await mkdir(this.options.workDir, { recursive: true });
    const outputDir = await mkdtemp(join(this.options.workDir, runDirPrefix(request)));
    const spec = validateFlentSpec({
      test: request.test,
      host: request.dst.address,
      length: request.lengthSeconds,
      delay: request.delaySeconds,
      title: request.title ?? flentTitle(`${request.src.name} to ${request.dst.name}`),
      outputDir,
      netperfControlPort: this.options.ports.netserver,
    });
    // Read while the servers start: a Python start-up each, 40 ms idle, several times that on a loaded host.
    const reading = readClockState();
    reading.catch(() => undefined);
    const servers = await timed(hooks.onPhase, 'server-ready', () => this.startServers(request.dst)).catch(
      async (err: unknown) => {
        await reading.catch(() => undefined);
        await rm(outputDir, { recursive: true, force: true });
        throw err;
      },
    );
    try {
      await hooks.serversReady?.();
      // The lock lost while waiting for the slot's other servers: the test must not start.
      hooks.signal?.throwIfAborted();
      const before = await reading;
      const outcome = await timed(hooks.onPhase, 'flent-run', () =>
        runFlent(spec, {
          commandPrefix: prefixFor(request.src),
          ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
        }),
      );
      const archive = outcome.ok ? outcome.archivePath : outcome.failure.archivePath;
      // With an archive the caller owns the directory (it uploads, then removes it).
      if (archive === undefined) await rm(outputDir, { recursive: true, force: true });
      // Network namespaces share the host's clock: both ends read the same one.
      const clock = worseClock(before ?? null, (await timed(hooks.onPhase, 'clock', readClockState)) ?? null);
      return { ...outcome, src: request.src.name, dst: request.dst.name, clocks: { src: clock, dst: clock } };
    } catch (err) {
      // Aborted (the lock lost): no outcome, so nobody else removes the run's directory.
      await rm(outputDir, { recursive: true, force: true });
      throw err;
    } finally {
      await timed(hooks.onPhase, 'cleanup', () => Promise.all(servers.map((server) => server.stop())));
    }
  }

  private async startServers(dst: RunnerNode): Promise<ManagedProcess[]> {
    const prefix = prefixFor(dst);
    const { netserver: netserverPort, irtt: irttPort } = this.options.ports;
    const servers: ManagedProcess[] = [];
    try {
      // -D: stay in the foreground so the process is ours to stop; -4 and -L: only dst's address.
      servers.push(
        startProcess([...prefix, 'netserver', '-D', '-4', '-L', dst.address, '-p', String(netserverPort)]),
      );
      servers.push(startProcess([...prefix, 'irtt', 'server', '-b', `${dst.address}:${irttPort}`]));
      await waitFor(
        `netserver on ${dst.address}:${netserverPort} and irtt on ${dst.address}:${irttPort}`,
        async () => {
          for (const server of servers) {
            if (!server.running) {
              const result = await server.done;
              throw new RunnerError(
                `${result.argv.slice(prefix.length).join(' ')} exited (${result.exitCode ?? result.signal}): ${result.stderr.trim() || result.stdout.trim()}`,
              );
            }
          }
          return listening(prefix, dst.address, netserverPort, irttPort);
        },
        // Both listen ~30 ms after their start and a look costs ~8 ms: every 50 ms cost each test ~60 ms.
        { timeoutMs: this.options.serverReadyTimeoutMs, intervalMs: 10 },
      );
      return servers;
    } catch (err) {
      await Promise.all(servers.map((server) => server.stop()));
      log.error({ node: dst.name, err: errorLine(err) }, 'test servers did not start');
      throw err instanceof RunnerError
        ? err
        : new RunnerError(`cannot start test servers on ${dst.name}: ${errorLine(err)}`, { cause: err });
    }
  }
}

/**
 * A run directory's name from its node names, encoded as S3 keys encode them
 * (a node named "../../x" stays inside the work dir) and short enough for a
 * file name (node names may be 253 characters; mkdtemp adds what makes it unique).
 */
function runDirPrefix(request: TestRequest): string {
  return `${encodeSegment(request.src.name).slice(0, 100)}-${encodeSegment(request.dst.name).slice(0, 100)}-`;
}

/**
 * The argv prefix for commands on a node. setpriv --pdeathsig: a test tool or
 * server dies with the process that started it, even when that process is
 * killed outright (a probe killed mid-test must not leave netserver behind).
 */
export function prefixFor(node: RunnerNode): string[] {
  const dieWithParent = ['setpriv', '--pdeathsig', 'KILL'];
  return node.netns === undefined ? dieWithParent : [...dieWithParent, 'ip', 'netns', 'exec', node.netns];
}

/** Whether netserver (TCP) and irtt (UDP) listen on address: one `ss` for both, a process start per look. */
async function listening(
  prefix: string[],
  address: string,
  tcpPort: number,
  udpPort: number,
): Promise<boolean> {
  const result = await runProcess([...prefix, 'ss', '-Hlntu'], { timeoutMs: 5000 });
  // With -t and -u, each line starts with its Netid: "tcp LISTEN 0 15 198.18.0.11:12865 0.0.0.0:*".
  const sockets = result.stdout.split('\n').map((socket) => socket.trim().split(/\s+/));
  const has = (netid: string, port: number): boolean =>
    sockets.some((fields) => fields[0] === netid && fields.includes(`${address}:${port}`));
  return has('tcp', tcpPort) && has('udp', udpPort);
}
