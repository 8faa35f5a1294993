/** A cluster node as every part of k8s-netmon sees it. */
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
