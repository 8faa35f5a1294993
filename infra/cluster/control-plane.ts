import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { lastLines, startProcess, waitFor } from '../../layers/core/process.ts';
import { onShutdown } from '../../layers/core/shutdown.ts';
import { type BinaryName, cachedBinary as cachedBinaryWithStatus } from './binaries.ts';

/**
 * A real Kubernetes control plane: one process that runs an embedded etcd and
 * kube-apiserver (built from the upstream Go modules by
 * infra/k8s-test/build.sh, cached outside the repository), on 127.0.0.1 (or
 * the one address given), with RBAC, client certificates and service-account
 * tokens.
 *
 * On its own there is no controller-manager and no scheduler: nothing creates
 * default service accounts, deletes namespaces' contents, collects garbage by
 * owner references, runs workloads or marks nodes NotReady. Tests that use it
 * alone create what they need and must not wait for any of that; the local
 * real cluster (./cluster.ts) runs both beside it.
 */

const READY_TIMEOUT_MS = 4 * 60_000;
/** Between SIGTERM and SIGKILL: the API server drains, then etcd closes. */
const STOP_GRACE_MS = 20_000;

export type { BinaryName };

export interface ControlPlaneOptions {
  /**
   * Data directory (etcd data, certificates, kubeconfig). It is the caller's
   * and kept after stop(); by default a new temporary one is made and removed.
   */
  dir?: string;
  /** The one IPv4 address the API server listens on and names in its certificate (default 127.0.0.1). */
  bindAddress?: string;
  /** More kube-apiserver flags, after ours (a later flag wins). */
  apiserverArgs?: readonly string[];
  /**
   * Where the API server writes its audit log (JSON lines): every request a
   * service account makes, at Metadata level (who, verb, resource, answer),
   * so that a function's API calls can be compared with its RBAC rules.
   */
  auditLog?: string;
}

/** Service accounts' requests only: they are the workloads' (the admin, nodes and controllers are left out). */
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
`;

async function auditArgs(dataDir: string, auditLog: string | undefined): Promise<string[]> {
  if (auditLog === undefined) return [];
  const policy = join(dataDir, 'audit-policy.yaml');
  await mkdir(dataDir, { recursive: true, mode: 0o700 }); // as the binary makes it: it holds the CA key
  await writeFile(policy, AUDIT_POLICY);
  return [`--audit-policy-file=${policy}`, `--audit-log-path=${auditLog}`, '--audit-log-format=json'];
}

export interface ControlPlane {
  /** https://127.0.0.1:PORT */
  server: string;
  /** Admin kubeconfig (system:masters) with the certificates embedded. */
  kubeconfigPath: string;
  kubeconfig: KubeConfig;
  /**
   * etcd data, the admin kubeconfig and pki/: ca.crt and ca.key (to issue more
   * client certificates, e.g. system:node:NAME for a kubelet: `control-plane
   * issue-cert`), sa.key/sa.pub (service-account tokens), the apiserver, admin
   * and kubelet-client certificates.
   */
  dataDir: string;
  /** Process id of the control plane (etcd and kube-apiserver run inside it). */
  pid: number;
  /** A kubeconfig for the same server that authenticates with a bearer token. */
  withToken(token: string): KubeConfig;
  /** Stops etcd and the API server (SIGTERM, SIGKILL after a grace time); idempotent. */
  stop(): Promise<void>;
}

interface ReadyLine {
  server: string;
  kubeconfig: string;
}

/** Path of the cached binary, building it first when the cache has none. */
export async function cachedBinary(name: BinaryName): Promise<string> {
  return (await cachedBinaryWithStatus(name)).path;
}

/** The helm binary built from its Go module (helm.sh/helm/v3). */
export function helmBinary(): Promise<string> {
  return cachedBinary('helm');
}

function parseReadyLine(text: string): ReadyLine {
  const parsed: unknown = JSON.parse(text);
  if (
    typeof parsed === 'object' &&
    parsed !== null &&
    'server' in parsed &&
    typeof parsed.server === 'string' &&
    'kubeconfig' in parsed &&
    typeof parsed.kubeconfig === 'string'
  ) {
    return { server: parsed.server, kubeconfig: parsed.kubeconfig };
  }
  throw new Error(`control plane: unexpected ready line ${text}`);
}

/**
 * Builds (or finds) the control-plane binary, starts it in its own process
 * group and waits until /readyz answers ok. The process is stopped by stop(),
 * on SIGINT/SIGTERM of this process (shutdown registry), and when this
 * process dies (the binary's --exit-with-parent).
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const binary = await cachedBinary('control-plane');
  const ownsDir = options.dir === undefined;
  const dataDir = options.dir ?? (await mkdtemp(join(tmpdir(), 'netmon-k8s-')));
  const removeDir = async (): Promise<void> => {
    if (ownsDir) await rm(dataDir, { recursive: true, force: true, maxRetries: 5 });
  };
  // Registered before the process: cleanups run newest first, so the process is killed first.
  const unregisterDir = onShutdown('control plane data dir', removeDir);
  const kubeconfigPath = join(dataDir, 'admin.kubeconfig');
  const readyFile = join(dataDir, 'ready.json');
  await rm(readyFile, { force: true });
  const proc = startProcess(
    [
      binary,
      '--data-dir',
      dataDir,
      '--kubeconfig-out',
      kubeconfigPath,
      '--ready-file',
      readyFile,
      '--ready-timeout',
      `${READY_TIMEOUT_MS / 1000}s`,
      '--exit-with-parent',
      // The binary removes a directory of ours itself, even when this process is killed outright.
      ...(ownsDir ? ['--remove-data-dir'] : []),
      ...(options.bindAddress === undefined ? [] : ['--bind-address', options.bindAddress]),
      '--',
      ...(await auditArgs(dataDir, options.auditLog)),
      ...(options.apiserverArgs ?? []),
    ],
    { killGraceMs: STOP_GRACE_MS, maxOutputBytes: 256 * 1024 },
  );
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await proc.stop();
      await removeDir();
      unregisterDir();
    })();
    return stopped;
  };

  let ready: ReadyLine | undefined;
  try {
    await waitFor(
      'the control plane to be ready',
      async () => {
        if (!proc.running) {
          const result = await proc.done;
          throw new Error(
            `control plane exited (${result.exitCode ?? result.signal}) before ready: ${lastLines(result.stderr, 10)}`,
          );
        }
        const text = await readFile(readyFile, 'utf8').catch(() => undefined);
        if (text === undefined) return false;
        ready = parseReadyLine(text.trim());
        return true;
      },
      { timeoutMs: READY_TIMEOUT_MS + 10_000, intervalMs: 100 },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  if (ready === undefined || proc.pid === undefined) {
    await stop();
    throw new Error('control plane: no ready line');
  }

  const kubeconfig = new KubeConfig();
  kubeconfig.loadFromFile(ready.kubeconfig);
  const { server } = ready;
  const caData = kubeconfig.getCurrentCluster()?.caData;
  return {
    server,
    kubeconfigPath: ready.kubeconfig,
    kubeconfig,
    dataDir,
    pid: proc.pid,
    withToken: (token) => tokenKubeConfig(server, caData, token),
    stop,
  };
}

/** A kubeconfig for `server` that authenticates with a bearer token (e.g. a service account's). */
export function tokenKubeConfig(server: string, caData: string | undefined, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'netmon-test', server, caData, skipTLSVerify: false }],
    users: [{ name: 'token', token }],
    contexts: [{ name: 'token', cluster: 'netmon-test', user: 'token' }],
    currentContext: 'token',
  });
  return kc;
}
