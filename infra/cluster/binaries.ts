import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lastLines } from '../../layers/core/process.ts';
import { onShutdown } from '../../layers/core/shutdown.ts';
import { ClusterError } from './errors.ts';

/**
 * The Kubernetes binaries, built from their Go modules by
 * infra/k8s-test/build.sh into a cache outside the repository (see its
 * header): a warm call only hashes the inputs and prints the paths.
 */

const BUILD_SCRIPT_PATH = 'infra/k8s-test/build.sh';
/** A cold build of the control plane takes many minutes on 2 cores (see build.sh). */
const BUILD_TIMEOUT_MS = 45 * 60_000;

/** The binaries build.sh builds. */
export type BinaryName = 'control-plane' | 'hyperkube' | 'pause' | 'helm';

export interface Binary {
  path: string;
  /** Whether this call had to compile it (a cold start). */
  built: boolean;
}

/**
 * The checkout that holds build.sh and the Go modules: the nearest folder
 * above this file that has it (this file is infra/cluster/ in the sources,
 * and dist/ when bundled into the CLI).
 */
function findRepo(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, BUILD_SCRIPT_PATH))) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new ClusterError(
        `${BUILD_SCRIPT_PATH} not found above ${fileURLToPath(import.meta.url)}: the Kubernetes binaries are built from a checkout of k8s-netmon`,
      );
    }
    dir = parent;
  }
}

/** Where a chunk of build.sh's progress goes; our stderr by default. */
export type ProgressSink = (text: string) => void;

const builds = new Map<BinaryName, Promise<Binary>>();

/** The cached binary, building it first when the cache has none (once per process). */
export function cachedBinary(name: BinaryName, progress?: ProgressSink): Promise<Binary> {
  let build = builds.get(name);
  if (build === undefined) {
    build = runBuild(name, progress ?? ((text) => process.stderr.write(text)));
    builds.set(name, build);
    build.catch(() => builds.delete(name));
  }
  return build;
}

/**
 * Runs build.sh for one binary. Its progress (stderr) goes to `progress` as
 * it comes, because a cold build is long and should not look stuck.
 */
function runBuild(name: BinaryName, progress: ProgressSink): Promise<Binary> {
  return new Promise((resolveBinary, reject) => {
    // Inside the executor: a missing checkout rejects like a failed build.
    const repo = findRepo();
    const script = join(repo, BUILD_SCRIPT_PATH);
    const child = spawn('bash', [script, name], {
      cwd: repo,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const killGroup = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // Already gone.
      }
    };
    const exited = new Promise<void>((resolveExit) => child.on('close', () => resolveExit()));
    // SIGTERM first, so that build.sh removes its temporary folder.
    const unregister = onShutdown(`build ${name}`, async () => {
      killGroup('SIGTERM');
      const grace = new Promise<void>((resolveGrace) => setTimeout(resolveGrace, 5_000).unref());
      await Promise.race([exited, grace]);
      killGroup('SIGKILL');
    });
    const timer = setTimeout(() => killGroup('SIGKILL'), BUILD_TIMEOUT_MS);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      stderr += text;
      progress(text);
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      unregister();
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      unregister();
      const path = stdout
        .split('\n')
        .find((line) => line.startsWith(`${name}=`))
        ?.slice(name.length + 1);
      if (code === 0 && path !== undefined && path !== '') {
        resolveBinary({ path, built: stderr.includes(`${name}: not cached`) });
      } else {
        reject(new Error(`${script} ${name}: exit ${code ?? signal}: ${lastLines(stderr, 5)}`));
      }
    });
  });
}
