import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lastLines, runProcess } from '../../../layers/core/process.ts';

/**
 * The Flent image built from infra/images/flent/Dockerfile by image.sh
 * (buildah, chroot isolation, base images made here from debootstrap and the
 * project's Node), as a docker-archive tar tagged as the chart's default
 * image (k8s/netmon/values.yaml image.repository:image.tag), for
 * `ctr -n k8s.io images import`. Cached outside the repository by its inputs
 * (see image.sh): a warm call hashes them and returns the path (~1 s), a cold
 * one builds (~1 min here, more when Debian's packages must be downloaded).
 * Needs root. The bundles are taken as dist/ has them: run `npm run build`
 * (infra/build/bundle.ts bundleAll) first for the current sources.
 */

const SCRIPT_PATH = 'infra/images/flent/image.sh';
/** A cold build with nothing cached: debootstrap, apt in the RUN step, the archive. */
const BUILD_TIMEOUT_MS = 20 * 60_000;
/** Between SIGTERM and SIGKILL: image.sh removes its temporary folder on SIGTERM. */
const STOP_GRACE_MS = 5_000;

export interface FlentImage {
  /** The image reference the archive is tagged with, e.g. ghcr.io/erigrid/k8s-netmon:0.1.0. */
  ref: string;
  /** The docker-archive tar in the cache; read-only, shared by every caller. */
  archive: string;
  /** Whether this call had to build it (a cold start). */
  built: boolean;
}

/** Where a chunk of image.sh's progress (stderr) goes; our stderr by default. */
export type ProgressSink = (text: string) => void;

export interface FlentImageOptions {
  progress?: ProgressSink;
  /** Kills the build after this long (default 20 minutes). */
  timeoutMs?: number;
}

/**
 * The checkout that holds image.sh and the Dockerfile: the nearest folder
 * above this file that has it (this file is infra/images/flent/ in the
 * sources, and dist/ when bundled into the CLI).
 */
export function flentImageScript(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, SCRIPT_PATH))) return join(dir, SCRIPT_PATH);
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(
        `${SCRIPT_PATH} not found above ${fileURLToPath(import.meta.url)}: the Flent image is built from a checkout of k8s-netmon`,
      );
    }
    dir = parent;
  }
}

/** Reads image.sh's stdout: `flent-image=PATH` and `flent-image-ref=REF`. */
export function parseImageOutput(stdout: string): { archive: string; ref: string } | undefined {
  const value = (key: string): string | undefined =>
    stdout
      .split('\n')
      .find((line) => line.startsWith(`${key}=`))
      ?.slice(key.length + 1);
  const archive = value('flent-image');
  const ref = value('flent-image-ref');
  return archive && ref ? { archive, ref } : undefined;
}

/**
 * The Flent image's docker-archive tar, building it first when the cache has
 * none. Calls may overlap (also across processes): image.sh builds once under
 * a lock and the others wait for it. Rejects with image.sh's last lines.
 */
export async function flentImage(options: FlentImageOptions = {}): Promise<FlentImage> {
  const progress = options.progress ?? ((text: string) => process.stderr.write(text));
  const script = flentImageScript();
  let built = false;
  const result = await runProcess(['bash', script], {
    cwd: dirname(script),
    timeoutMs: options.timeoutMs ?? BUILD_TIMEOUT_MS,
    killGraceMs: STOP_GRACE_MS,
    gracefulShutdown: true,
    // Only the tail is kept for the error message: a cold build prints apt's whole log.
    maxOutputBytes: 64 * 1024,
    onStderr: (text) => {
      built ||= text.includes('image.sh: not cached');
      progress(text);
    },
  });
  const parsed = parseImageOutput(result.stdout);
  if (result.exitCode !== 0 || parsed === undefined) {
    const why = result.timedOut ? 'timed out' : `exit ${result.exitCode ?? result.signal}`;
    throw new Error(`${script}: ${why}: ${lastLines(result.stderr, 8)}`);
  }
  return { ...parsed, built };
}
