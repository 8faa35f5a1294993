import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lastLines, runProcess } from '../../layers/core/process.ts';
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
export type BinaryName = 'control-plane' | 'hyperkube' | 'pause' | 'netget' | 'helm' | 'coredns';

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
 * it comes, because a cold build is long and should not look stuck; on
 * shutdown it gets SIGTERM first, so that build.sh removes its temporary folder.
 */
async function runBuild(name: BinaryName, progress: ProgressSink): Promise<Binary> {
  // A missing checkout rejects like a failed build.
  const repo = findRepo();
  const script = join(repo, BUILD_SCRIPT_PATH);
  const result = await runProcess(['bash', script, name], {
    cwd: repo,
    timeoutMs: BUILD_TIMEOUT_MS,
    killGraceMs: 5_000,
    gracefulShutdown: true,
    onStderr: progress,
  });
  const path = result.stdout
    .split('\n')
    .find((line) => line.startsWith(`${name}=`))
    ?.slice(name.length + 1);
  if (result.exitCode !== 0 || path === undefined || path === '') {
    const why = result.timedOut ? 'timed out' : `exit ${result.exitCode ?? result.signal}`;
    throw new Error(`${script} ${name}: ${why}: ${lastLines(result.stderr, 5)}`);
  }
  return { path, built: result.stderr.includes(`${name}: not cached`) };
}
