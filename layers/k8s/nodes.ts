import type { CoreV1Api, V1Node } from '@kubernetes/client-node';
import type { ClusterNode, NodeSource } from '../domain/nodes.ts';
import { withApiRetry } from './retry.ts';

/** The cluster's nodes from the API server: InternalIP, Ready condition, labels. */
export class KubeNodeSource implements NodeSource {
  private readonly core: CoreV1Api;
  private readonly labelSelector: string | undefined;

  constructor(core: CoreV1Api, labelSelector?: string) {
    this.core = core;
    this.labelSelector = labelSelector;
  }

  async list(): Promise<ClusterNode[]> {
    const list = await withApiRetry('list nodes', () =>
      this.core.listNode(this.labelSelector === undefined ? {} : { labelSelector: this.labelSelector }),
    );
    return list.items.flatMap((node) => {
      const converted = toClusterNode(node);
      return converted === undefined ? [] : [converted];
    });
  }
}

/** A node without a name or an address cannot be tested; it is left out. */
export function toClusterNode(node: V1Node): ClusterNode | undefined {
  const name = node.metadata?.name;
  const addresses = node.status?.addresses ?? [];
  const address = (
    addresses.find((a) => a.type === 'InternalIP') ?? addresses.find((a) => a.type === 'ExternalIP')
  )?.address;
  if (name === undefined || address === undefined) return undefined;
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  const schedulable = node.spec?.unschedulable !== true;
  return { name, address, ready: ready && schedulable, labels: { ...(node.metadata?.labels ?? {}) } };
}
