import {
  ApiextensionsV1Api,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
} from '@kubernetes/client-node';
import { waitFor } from '../../layers/core/process.ts';

/**
 * `kubectl apply --server-side` for rendered manifests (helm template
 * output): CRDs first, each waited for until Established, then everything
 * else in the order given.
 */
export async function serverSideApply(
  kubeconfig: KubeConfig,
  manifests: string,
  { namespace, fieldManager = 'netmon-test' }: { namespace: string; fieldManager?: string },
): Promise<KubernetesObject[]> {
  const objects = (loadAllYaml(manifests) as Array<KubernetesObject | null>).filter(
    (o): o is KubernetesObject => o !== null && typeof o === 'object' && 'kind' in o,
  );
  const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
  const rest = objects.filter((o) => o.kind !== 'CustomResourceDefinition');
  const extensions = kubeconfig.makeApiClient(ApiextensionsV1Api);
  const applied: KubernetesObject[] = [];
  for (const crd of crds) {
    applied.push(await apply(KubernetesObjectApi.makeApiClient(kubeconfig), crd, fieldManager));
    await waitFor(`CRD ${crd.metadata?.name} to be established`, async () => {
      const current = await extensions.readCustomResourceDefinition({ name: crd.metadata?.name ?? '' });
      return (
        current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false
      );
    });
  }
  // A new client after the CRDs: the first one cached the API groups it discovered.
  const client = KubernetesObjectApi.makeApiClient(kubeconfig);
  for (const object of rest) {
    const scoped = isClusterScoped(object.kind)
      ? object
      : { ...object, metadata: { namespace, ...object.metadata } };
    applied.push(await apply(client, scoped, fieldManager));
  }
  return applied;
}

const CLUSTER_SCOPED = new Set([
  'ClusterRole',
  'ClusterRoleBinding',
  'Namespace',
  'CustomResourceDefinition',
]);

function isClusterScoped(kind: string | undefined): boolean {
  return kind !== undefined && CLUSTER_SCOPED.has(kind);
}

function apply(
  client: KubernetesObjectApi,
  object: KubernetesObject,
  fieldManager: string,
): Promise<KubernetesObject> {
  return client.patch(object, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply);
}
