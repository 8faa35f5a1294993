import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalStack, startLocalStack } from '../../infra/local-stack/stack.ts';
import type { ClusterNode } from '../../layers/domain/nodes.ts';

/** A local stack in a temporary directory, plus the NETMON_* environment for functions run against it. */
export interface StackFixture {
  stack: LocalStack;
  dir: string;
  env: NodeJS.ProcessEnv;
  writeNodes(nodes: readonly ClusterNode[]): Promise<void>;
  stop(): Promise<void>;
}

export async function startStackFixture(
  options: { visibilityTimeoutSeconds?: number; schedules?: unknown[]; s3Address?: string } = {},
): Promise<StackFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'netmon-stack-'));
  const stack = await startLocalStack({
    directory: dir,
    ...(options.visibilityTimeoutSeconds === undefined
      ? {}
      : { visibilityTimeoutSeconds: options.visibilityTimeoutSeconds }),
    ...(options.s3Address === undefined ? {} : { s3Address: options.s3Address }),
  });
  const nodesFile = join(dir, 'nodes.json');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...stack.env,
    NETMON_NODES_FILE: nodesFile,
    NETMON_LOCK_FILE: join(dir, 'test.lock'),
    NETMON_WORK_DIR: join(dir, 'runs'),
    LOG_LEVEL: 'warn',
    ...(options.schedules === undefined ? {} : { NETMON_SCHEDULES: JSON.stringify(options.schedules) }),
  };
  return {
    stack,
    dir,
    env,
    writeNodes: (nodes) => writeFile(nodesFile, JSON.stringify(nodes)),
    stop: async () => {
      await stack.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
