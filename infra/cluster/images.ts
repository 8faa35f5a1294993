import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { runChecked, runProcess } from '../../layers/core/process.ts';
import { ClusterError } from './errors.ts';
import { type TarEntry, tarArchive } from './tar.ts';

/**
 * Images of the local real cluster, built here without a registry or a
 * container engine: a root filesystem as one uncompressed layer, packed in
 * the `docker save` layout (manifest.json, the config, the layer), which
 * `ctr images import` reads. The same inputs give the same bytes, so an
 * archive is written once into the cache and found again by its digest.
 */

/** Bump when the way images are packed changes: it is part of every archive name. */
const RECIPE = 1;
/** Names no registry serves: pods use them with imagePullPolicy IfNotPresent or Never. */
export const PAUSE_IMAGE = 'netmon.local/pause:local';
export const BUSYBOX_IMAGE = 'netmon.local/busybox:local';
const BUSYBOX = '/bin/busybox';
/** The applets the tools image links (busybox-static has ~300). */
const BUSYBOX_APPLETS = [
  'sh',
  'cat',
  'echo',
  'grep',
  'head',
  'ip',
  'ls',
  'nc',
  'ping',
  'ps',
  'sleep',
  'tail',
  'true',
  'false',
  'wget',
  'id',
  'hostname',
  'env',
  'date',
  'nslookup',
];

export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  user?: string;
  env?: string[];
}

export interface LocalImage {
  ref: string;
  /** The docker-archive tar in the cache. */
  archive: string;
  /** Whether this call wrote it (a cold start). */
  built: boolean;
}

export function cacheDir(): string {
  return process.env.NETMON_CACHE_DIR ?? join(homedir(), '.cache', 'k8s-netmon');
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A `docker save` archive of one image with one layer. */
export function dockerArchive(ref: string, layer: Buffer, config: ImageConfig): Buffer {
  const diffId = sha256(layer);
  const configJson = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {
        ...(config.entrypoint === undefined ? {} : { Entrypoint: config.entrypoint }),
        ...(config.cmd === undefined ? {} : { Cmd: config.cmd }),
        ...(config.user === undefined ? {} : { User: config.user }),
        Env: config.env ?? ['PATH=/bin'],
      },
      rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
      history: [{ created_by: 'k8s-netmon infra/cluster/images.ts' }],
    }),
  );
  const configName = `${sha256(configJson)}.json`;
  const layerName = `${diffId}/layer.tar`;
  const manifest = Buffer.from(
    JSON.stringify([{ Config: configName, RepoTags: [ref], Layers: [layerName] }]),
  );
  return tarArchive([
    { type: 'dir', path: diffId, mode: 0o755 },
    { type: 'file', path: layerName, mode: 0o644, data: layer },
    { type: 'file', path: configName, mode: 0o644, data: configJson },
    { type: 'file', path: 'manifest.json', mode: 0o644, data: manifest },
  ]);
}

/** Writes the archive into the cache unless an identical one is there. */
async function cached(name: string, archive: Buffer, ref: string): Promise<LocalImage> {
  const dir = join(cacheDir(), 'images');
  const path = join(dir, `${name}-r${RECIPE}-${sha256(archive).slice(0, 16)}.tar`);
  const present = await stat(path).then(
    (s) => s.size === archive.length,
    () => false,
  );
  if (present) return { ref, archive: path, built: false };
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, archive);
  await rename(tmp, path);
  return { ref, archive: path, built: true };
}

/** Folders every image has, so that a read-only root still has its mount points. */
function baseFolders(): TarEntry[] {
  return ['dev', 'proc', 'sys', 'etc', 'var', 'run'].map((path) => ({ type: 'dir', path, mode: 0o755 }));
}

/** The pod sandbox image: the static pause binary (infra/cluster/kube/cmd/pause), as an unprivileged user. */
export async function pauseImage(binary: string): Promise<LocalImage> {
  const layer = tarArchive([
    ...baseFolders(),
    { type: 'file', path: 'pause', mode: 0o755, data: await readFile(binary) },
  ]);
  return cached(
    'pause',
    dockerArchive(PAUSE_IMAGE, layer, { entrypoint: ['/pause'], user: '65535:65535' }),
    PAUSE_IMAGE,
  );
}

/**
 * A small tools image from Debian's busybox-static: a shell and the usual
 * commands, for test pods and for looking around a node. Users 65532
 * (nonroot) and 65534 (nobody) exist, as in distroless images. busybox's
 * own name lookups need NSS modules the image lacks, so `netget` (the static
 * infra/cluster/kube/cmd/netget) resolves names and fetches URLs by name.
 */
export async function busyboxImage(netget: string): Promise<LocalImage> {
  const binary = await readFile(BUSYBOX).catch((err: unknown) => {
    throw new ClusterError(
      `${BUSYBOX} is missing: install busybox-static (bash infra/system/install.sh installs all system packages)`,
      { cause: err },
    );
  });
  const passwd =
    'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/home/nonroot:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n';
  const group = 'root:x:0:\nnonroot:x:65532:\nnogroup:x:65534:\n';
  const layer = tarArchive([
    ...baseFolders(),
    { type: 'dir', path: 'bin', mode: 0o755 },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'file', path: 'bin/busybox', mode: 0o755, data: binary },
    { type: 'file', path: 'bin/netget', mode: 0o755, data: await readFile(netget) },
    ...BUSYBOX_APPLETS.map(
      (applet): TarEntry => ({ type: 'symlink', path: `bin/${applet}`, target: 'busybox' }),
    ),
    { type: 'file', path: 'etc/passwd', mode: 0o644, data: Buffer.from(passwd) },
    { type: 'file', path: 'etc/group', mode: 0o644, data: Buffer.from(group) },
  ]);
  return cached('busybox', dockerArchive(BUSYBOX_IMAGE, layer, { cmd: ['sh'] }), BUSYBOX_IMAGE);
}

/** Imports archives into a node's containerd (namespace k8s.io, where the kubelet's images live). */
export async function importImages(socket: string, images: readonly LocalImage[]): Promise<void> {
  for (const image of images) {
    await runChecked(
      ['ctr', '--address', socket, '--namespace', 'k8s.io', 'images', 'import', image.archive],
      (message) => new ClusterError(`importing ${image.ref}: ${message}`),
      { timeoutMs: 120_000 },
    );
  }
}

/**
 * An image archive made elsewhere (e.g. the Flent image of
 * infra/images/flent), in the `docker save` layout: its name is the first
 * RepoTags entry of its manifest.json.
 */
export async function archiveImage(archive: string): Promise<LocalImage> {
  const result = await runProcess(['tar', '-xOf', archive, 'manifest.json'], {
    timeoutMs: 60_000,
    maxOutputBytes: 1 << 20,
  });
  let ref: unknown;
  try {
    ref = (JSON.parse(result.stdout) as Array<{ RepoTags?: unknown[] }>)[0]?.RepoTags?.[0];
  } catch {
    ref = undefined;
  }
  if (result.exitCode !== 0 || typeof ref !== 'string') {
    throw new ClusterError(
      `${archive}: not a docker-archive image (a tar with manifest.json naming RepoTags, as \`docker save\` writes): ${result.stderr.trim() || 'no RepoTags'}`,
    );
  }
  return { ref, archive, built: false };
}
