import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import type { ClusterNode, NodeSource } from '../domain/nodes.ts';

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
