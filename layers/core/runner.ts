import type { FlentOutcome } from '../flent/run.ts';
import type { FlentTestName } from '../flent/spec.ts';

/** A node as a runner sees it: where to reach it and, locally, which namespace it lives in. */
export interface RunnerNode {
  name: string;
  address: string;
  /** Network namespace of the node on this host; absent means the host's own namespace. */
  netns?: string;
}

export interface TestRequest {
  src: RunnerNode;
  dst: RunnerNode;
  test: FlentTestName;
  lengthSeconds: number;
  delaySeconds?: number;
  title?: string;
}

export type TestOutcome = FlentOutcome & { src: string; dst: string };

/** Runs one test for an ordered pair. The local runner and the Kubernetes runner both implement it. */
export interface Runner {
  run(request: TestRequest): Promise<TestOutcome>;
}
