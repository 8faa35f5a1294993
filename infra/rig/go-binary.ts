import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RigError } from '../../layers/core/errors.ts';
import { lastLines, runProcess } from '../../layers/core/process.ts';

/**
 * A Go binary of this checkout, built by infra/k8s-test/build.sh into its
 * cache (see its header): a warm call only hashes the inputs and prints the
 * path. The rig's own tools (the delay line) come from here; it sits in
 * infra/rig so that infra/cluster, a higher layer, may use it too.
 */

const BUILD_SCRIPT_PATH = 'infra/k8s-test/build.sh';
const DEFAULT_BUILD_TIMEOUT_MS = 10 * 60_000;

export interface GoBinaryOptions {
  /** Where build.sh's progress (stderr) goes as it comes: a cold build is long and should not look stuck. */
  progress?: (text: string) => void;
  timeoutMs?: number;
}

export interface GoBinary {
  path: string;
  /** Whether this call had to compile it (a cold start). */
  built: boolean;
  durationMs: number;
}

/** The checkout that holds build.sh: the nearest folder above this file that has it (infra/rig/ or dist/). */
function findRepo(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, BUILD_SCRIPT_PATH))) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new RigError(
        `${BUILD_SCRIPT_PATH} not found above ${fileURLToPath(import.meta.url)}: the Go binaries (the rig's tools, the Kubernetes binaries) are built from a checkout of k8s-netmon`,
      );
    }
    dir = parent;
  }
}

const builds = new Map<string, Promise<GoBinary>>();

/**
 * The cached binary `name` (a build.sh target), building it first when
 * needed (once per process: the first caller's options apply).
 */
export function goBinary(name: string, options: GoBinaryOptions = {}): Promise<GoBinary> {
  let build = builds.get(name);
  if (build === undefined) {
    build = runBuild(name, options);
    builds.set(name, build);
    build.catch(() => builds.delete(name));
  }
  return build;
}

/** Runs build.sh for one binary; on shutdown it gets SIGTERM first, so that build.sh removes its temporary folder. */
async function runBuild(name: string, options: GoBinaryOptions): Promise<GoBinary> {
  // A missing checkout rejects like a failed build.
  const repo = findRepo();
  const script = join(repo, BUILD_SCRIPT_PATH);
  const result = await runProcess(['bash', script, name], {
    cwd: repo,
    timeoutMs: options.timeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS,
    killGraceMs: 5_000,
    gracefulShutdown: true,
    ...(options.progress === undefined ? {} : { onStderr: options.progress }),
  });
  const path = result.stdout
    .split('\n')
    .find((line) => line.startsWith(`${name}=`))
    ?.slice(name.length + 1);
  if (result.exitCode !== 0 || path === undefined || path === '') {
    const why = result.timedOut ? 'timed out' : `exit ${result.exitCode ?? result.signal}`;
    throw new RigError(`${script} ${name}: ${why}: ${lastLines(result.stderr, 5)}`);
  }
  return { path, built: result.stderr.includes(`${name}: not cached`), durationMs: result.durationMs };
}
