import { goBinary } from '../rig/go-binary.ts';

/**
 * The Kubernetes binaries, built from their Go modules by
 * infra/k8s-test/build.sh into a cache outside the repository (see its
 * header): a warm call only hashes the inputs and prints the paths. The
 * runner of build.sh is the rig's (infra/rig/go-binary.ts).
 */

/** A cold build of the control plane takes many minutes on 2 cores (see build.sh). */
const BUILD_TIMEOUT_MS = 45 * 60_000;

/** The binaries build.sh builds for the cluster. */
export type BinaryName = 'control-plane' | 'hyperkube' | 'pause' | 'netget' | 'helm' | 'coredns';

export interface Binary {
  path: string;
  /** Whether this call had to compile it (a cold start). */
  built: boolean;
}

/** Where a chunk of build.sh's progress goes; our stderr by default. */
export type ProgressSink = (text: string) => void;

/** The cached binary, building it first when the cache has none (once per process), its progress shown. */
export async function cachedBinary(name: BinaryName, progress?: ProgressSink): Promise<Binary> {
  const { path, built } = await goBinary(name, {
    progress: progress ?? ((text) => process.stderr.write(text)),
    timeoutMs: BUILD_TIMEOUT_MS,
  });
  return { path, built };
}
