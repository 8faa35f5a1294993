import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ConfigError } from '../core/errors.ts';

/** A cluster node as the pipeline sees it. */
export interface ClusterNode {
  name: string;
  /** InternalIP: where tests reach the node. */
  address: string;
  ready: boolean;
  labels: Record<string, string>;
  /** Local runner only: the network namespace the node lives in on this host. */
  netns?: string;
}

/** Where the node list comes from: the Kubernetes API in a cluster, a file for the local runner. */
export interface NodeSource {
  list(): Promise<ClusterNode[]>;
}

const nodeSchema = z.object({
  name: z.string().min(1),
  address: z.string().min(1),
  ready: z.boolean().default(true),
  labels: z.record(z.string(), z.string()).default({}),
  netns: z.string().min(1).optional(),
});
const nodesSchema = z.array(nodeSchema);

/** A JSON file listing the nodes (the demo writes one for its simulated cluster). */
export class FileNodeSource implements NodeSource {
  private readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  async list(): Promise<ClusterNode[]> {
    let document: unknown;
    try {
      document = JSON.parse(await readFile(this.path, 'utf8'));
    } catch (err) {
      throw new ConfigError(
        'NETMON_NODES_FILE',
        this.path,
        `a readable JSON list of nodes (${(err as Error).message})`,
      );
    }
    const parsed = nodesSchema.safeParse(document);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ConfigError(
        `NETMON_NODES_FILE ${this.path} at ${issue?.path.join('.') || '(root)'}`,
        undefined,
        `[{"name", "address", "ready"?, "labels"?, "netns"?}] (${issue?.message})`,
      );
    }
    return parsed.data.map((node) => {
      const { netns, ...rest } = node;
      return netns === undefined ? rest : { ...rest, netns };
    });
  }
}
