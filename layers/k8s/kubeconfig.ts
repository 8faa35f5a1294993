import type { KubeConfig } from '@kubernetes/client-node';
import { ConfigError, errorLine } from '../core/errors.ts';

/**
 * The Kubernetes API clients: a kubeconfig read from Secrets Manager when
 * NETMON_KUBECONFIG_SECRET_ARN is set (a cloud function outside the
 * cluster), else KUBECONFIG, else the pod's service account.
 */
export function kubeconfigFrom(env: NodeJS.ProcessEnv): Promise<KubeConfig> {
  // One load per environment: nodes, schedules, runner and lease share it (and one secret read).
  let loaded = kubeconfigs.get(env);
  if (loaded === undefined) {
    loaded = loadKubeconfig(env);
    kubeconfigs.set(env, loaded);
    loaded.catch(() => kubeconfigs.delete(env));
  }
  return loaded;
}
const kubeconfigs = new WeakMap<NodeJS.ProcessEnv, Promise<KubeConfig>>();

/**
 * The Kubernetes client's classes, loaded on first use. A dynamic import
 * keeps a whole package in a bundle, so infra/build/bundle.ts reads the
 * names destructured here and bundles only those.
 */
export async function kubeClient() {
  const { KubeConfig, CoreV1Api, CustomObjectsApi, CoordinationV1Api } = await import(
    '@kubernetes/client-node'
  );
  return { KubeConfig, CoreV1Api, CustomObjectsApi, CoordinationV1Api };
}

async function loadKubeconfig(env: NodeJS.ProcessEnv): Promise<KubeConfig> {
  const { KubeConfig } = await kubeClient();
  const kubeconfig = new KubeConfig();
  if (env.NETMON_KUBECONFIG_SECRET_ARN) {
    kubeconfig.loadFromString(await readSecret(env.NETMON_KUBECONFIG_SECRET_ARN, env));
  } else if (env.KUBECONFIG) kubeconfig.loadFromFile(env.KUBECONFIG);
  else kubeconfig.loadFromDefault();
  return kubeconfig;
}

/**
 * A secret's text through the AWS Parameters and Secrets Lambda Extension
 * (a layer serving GetSecretValue on localhost, authenticated by the
 * function's session token): no Secrets Manager SDK client in the bundles.
 */
async function readSecret(arn: string, env: NodeJS.ProcessEnv): Promise<string> {
  const port = env.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT ?? '2773';
  const expected = `the ARN of a Secrets Manager secret holding a kubeconfig, readable through the Parameters and Secrets extension on localhost:${port}`;
  let response: Response;
  try {
    response = await fetch(
      `http://localhost:${port}/secretsmanager/get?secretId=${encodeURIComponent(arn)}`,
      {
        headers: { 'X-Aws-Parameters-Secrets-Token': env.AWS_SESSION_TOKEN ?? '' },
        signal: AbortSignal.timeout(10_000),
      },
    );
  } catch (err) {
    throw new ConfigError('NETMON_KUBECONFIG_SECRET_ARN', arn, `${expected} (${errorLine(err)})`, {
      cause: err,
    });
  }
  const body = (await response.json().catch(() => ({}))) as { SecretString?: unknown };
  if (!response.ok || typeof body.SecretString !== 'string') {
    throw new ConfigError('NETMON_KUBECONFIG_SECRET_ARN', arn, `${expected} (HTTP ${response.status})`);
  }
  return body.SecretString;
}
