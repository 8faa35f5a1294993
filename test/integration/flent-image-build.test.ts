import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type FlentImage, flentImage } from '../../infra/images/flent/image.ts';
import { runChecked, runProcess } from '../../layers/core/process.ts';

/**
 * The Flent image built from its Dockerfile (infra/images/flent/image.sh:
 * buildah, the FROM images made here from debootstrap and the project's
 * Node), as the archive the local real cluster imports into containerd. The
 * archive is read as a runtime would: its manifest and config, then its
 * layers applied in order (whiteouts honoured) into one tree, which is
 * compared with what the chart expects and with the rootfs.sh tree that
 * test/integration/flent-image.test.ts runs with runc.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const ROOTFS_SH = join(root, 'infra/images/flent/rootfs.sh');
const PROVISION_SH = join(root, 'infra/images/flent/provision.sh');
const PACKAGES_TXT = join(root, 'infra/system/packages.txt');
const VALUES = join(root, 'k8s/netmon/values.yaml');
const DIST = join(root, 'dist');
const USER_ID = 65532;
/** What users pull: a bound that catches a layer gone wrong (measured: 266 MiB, Node 121 MiB of it). */
const MAX_ARCHIVE_BYTES = 350 * 1024 * 1024;

interface Manifest {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

interface ImageConfig {
  architecture: string;
  os: string;
  config: {
    User?: string;
    WorkingDir?: string;
    Env?: string[];
    Labels?: Record<string, string>;
  };
  rootfs: { type: string; diff_ids: string[] };
}

let dir: string;
/** The archive unpacked: manifest.json, the config, the layer tars. */
let unpacked: string;
/** The image's layers applied in order: the container's root file system. */
let tree: string;
/** The runc test's tree (rootfs.sh). */
let rootfs: string;
let image: FlentImage;
let manifest: Manifest;
let config: ImageConfig;

function fail(message: string): Error {
  return new Error(message);
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Applies the layer tars in order into `into`, as a runtime does: whiteouts remove what lower layers made. */
async function applyLayers(layers: readonly string[], into: string): Promise<void> {
  for (const layer of layers) {
    const names = (await runChecked(['tar', '-tf', layer], fail, { maxOutputBytes: 64 << 20 }))
      .split('\n')
      .filter(Boolean)
      .map((name) => normalize(name).replace(/\/$/, ''));
    const whiteouts = names.filter((name) => basename(name).startsWith('.wh.'));
    for (const whiteout of whiteouts) {
      const folder = join(into, dirname(whiteout));
      if (basename(whiteout) === '.wh..wh..opq') {
        for (const entry of await readdir(folder).catch(() => []))
          await rm(join(folder, entry), { recursive: true, force: true });
      } else {
        await rm(join(folder, basename(whiteout).slice('.wh.'.length)), { recursive: true, force: true });
      }
    }
    await runChecked(
      ['tar', '-xpf', layer, '-C', into, '--numeric-owner', '--xattrs', '--xattrs-include=*'],
      fail,
      { timeoutMs: 120_000 },
    );
    for (const whiteout of whiteouts) await rm(join(into, whiteout), { force: true });
  }
}

/**
 * Runs a shell command inside the image's tree as its user would run: uid/gid
 * 65532, the config's environment only, in /tmp (chroot; /dev and /proc
 * mounted in a private mount namespace). Returns stdout and stderr together.
 */
async function inImage(script: string): Promise<string> {
  const env = config.config.Env ?? [];
  return runChecked(
    [
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount --rbind /dev "$1/dev" && mount -t proc proc "$1/proc" && ' +
        'root=$1 && shift && exec chroot --userspec=65532:65532 "$root" /usr/bin/env -i "$@"',
      'in-image',
      tree,
      ...env,
      '/bin/sh',
      '-c',
      `cd /tmp && { ${script}; } 2>&1`,
    ],
    fail,
    { timeoutMs: 60_000 },
  );
}

/** Installed packages, from a tree's dpkg status file. */
async function installedPackages(tree_: string): Promise<string[]> {
  const status = await readFile(join(tree_, 'var/lib/dpkg/status'), 'utf8');
  return status
    .split('\n\n')
    .filter((entry) => /^Status: install ok installed$/m.test(entry))
    .map((entry) => /^Package: (\S+)$/m.exec(entry)?.[1] ?? '')
    .sort();
}

beforeAll(async () => {
  // Warm: a hash and a path (~1 s). Cold (no CI step before): about a minute, more with no debootstrap cache.
  image = await flentImage({ progress: () => undefined, timeoutMs: 20 * 60_000 });
  const built = await runProcess(['bash', ROOTFS_SH], { timeoutMs: 15 * 60_000 });
  const path = /^flent-rootfs=(.+)$/m.exec(built.stdout)?.[1];
  if (built.exitCode !== 0 || path === undefined)
    throw new Error(`rootfs.sh failed (${built.exitCode}): ${built.stderr.slice(-2000)}`);
  rootfs = path;

  dir = await mkdtemp(join(tmpdir(), 'netmon-flent-image-build-'));
  unpacked = join(dir, 'archive');
  tree = join(dir, 'tree');
  await mkdir(unpacked);
  await mkdir(tree);
  await runChecked(['tar', '-xf', image.archive, '-C', unpacked], fail, { timeoutMs: 120_000 });
  manifest = (
    JSON.parse(await readFile(join(unpacked, 'manifest.json'), 'utf8')) as Manifest[]
  )[0] as Manifest;
  config = JSON.parse(await readFile(join(unpacked, manifest.Config), 'utf8')) as ImageConfig;
  await applyLayers(
    manifest.Layers.map((layer) => join(unpacked, layer)),
    tree,
  );
}, 25 * 60_000);

afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('the Flent image built from its Dockerfile (buildah, docker-archive)', () => {
  it("is a docker archive of one image tagged as the chart's default image, its layers those its config names", async () => {
    const values = parseYaml(await readFile(VALUES, 'utf8')) as {
      image: { repository: string; tag: string };
    };
    const ref = `${values.image.repository}:${values.image.tag}`;
    expect(ref).toBe('ghcr.io/erigrid/k8s-netmon:0.1.0');
    expect(image.ref).toBe(ref);
    const all = JSON.parse(await readFile(join(unpacked, 'manifest.json'), 'utf8')) as Manifest[];
    expect(all).toHaveLength(1);
    expect(manifest.RepoTags).toEqual([ref]);
    const [repository, tag] = [values.image.repository, values.image.tag];
    const repositories = JSON.parse(await readFile(join(unpacked, 'repositories'), 'utf8')) as Record<
      string,
      Record<string, string>
    >;
    expect(Object.keys(repositories[repository] ?? {})).toEqual([tag]);

    expect(config.os).toBe('linux');
    expect(config.architecture).toBe('amd64');
    expect(config.rootfs.type).toBe('layers');
    const digests = await Promise.all(
      manifest.Layers.map(async (layer) => `sha256:${await sha256File(join(unpacked, layer))}`),
    );
    expect(digests).toEqual(config.rootfs.diff_ids);
    // The Dockerfile's layers: base, build files, the project's Flent tests, RUN provision.sh, Node, bundles, graph page.
    expect(manifest.Layers).toHaveLength(7);
    expect((await stat(image.archive)).size).toBeLessThan(MAX_ARCHIVE_BYTES);
  });

  it('runs as 65532:65532 in /tmp with /usr/local/bin on PATH, labelled as the Dockerfile says', () => {
    expect(config.config.User).toBe(`${USER_ID}:${USER_ID}`);
    expect(config.config.WorkingDir).toBe('/tmp');
    const path = config.config.Env?.find((env) => env.startsWith('PATH='));
    expect(path?.split(/[=:]/)).toContain('/usr/local/bin');
    expect(config.config.Labels?.['org.opencontainers.image.title']).toBe('k8s-netmon');
  });

  it("holds the bundles dist/ has and the project's Node 24 binary, the same as the runc tree's", async () => {
    const bundles = (await readdir(DIST)).filter((file) => file.endsWith('.js') || file === 'package.json');
    expect(bundles).toEqual(
      expect.arrayContaining(['agent.js', 'plan.js', 'probe.js', 'render.js', 'package.json']),
    );
    for (const file of [...bundles, 'graph-page/graph-page.js'])
      expect(await sha256File(join(tree, 'opt/netmon', file)), file).toBe(await sha256File(join(DIST, file)));

    const node = await sha256File(join(tree, 'usr/local/bin/node'));
    expect(node).toBe(await sha256File(await realpath(join(root, 'node_modules/.bin/node'))));
    expect(node).toBe(await sha256File(join(rootfs, 'usr/local/bin/node')));
  });

  it("runs as 65532 with the config's environment: the tools, Node 24, and the chart's functions load", async () => {
    const out = await inImage(
      'id -u; id -g; for p in flent netperf netserver fping ping irtt node; do command -v "$p"; done; ' +
        'node --version; flent --version; ' +
        'for fn in plan probe render; do node "/opt/netmon/$fn.js"; echo "$fn=$?"; done',
    );
    const lines = out.split('\n');
    expect(lines.slice(0, 2)).toEqual([String(USER_ID), String(USER_ID)]);
    for (const program of ['flent', 'netperf', 'netserver', 'fping', 'ping', 'irtt'])
      expect(lines).toContain(`/usr/bin/${program}`);
    expect(lines).toContain('/usr/local/bin/node');
    expect(out).toMatch(/^v24\.\d+\.\d+$/m);
    expect(out).toMatch(/Flent v2\.\d/);
    // As in the runc test: each function loads, then names its first missing setting.
    for (const fn of ['plan', 'probe', 'render']) {
      expect(out).toMatch(new RegExp(`^${fn}: NETMON_[A-Z0-9_]+: undefined \\(missing\\) is not valid`, 'm'));
      expect(out).toMatch(new RegExp(`^${fn}=[1-9]`, 'm'));
    }
  });

  it('gives no program a file capability and none setuid or setgid, as the runc tree', async () => {
    for (const tree_ of [tree, rootfs]) {
      // Under no_new_privs (allowPrivilegeEscalation: false) a program with an effective file
      // capability cannot even be executed (EPERM): fping and ping must rely on ICMP datagram sockets.
      const caps = await runChecked(
        ['sh', '-c', 'find "$1" -xdev -type f -perm /111 -print0 | xargs -0 -r getcap', 'sh', tree_],
        fail,
      );
      expect(caps.trim(), tree_).toBe('');
      const setid = await runChecked(['find', tree_, '-xdev', '-type', 'f', '-perm', '/6000'], fail);
      expect(setid.trim(), tree_).toBe('');
    }
  });

  it('has the Debian packages of the runc tree (netperf from non-free through the pin) and its user 65532', async () => {
    const packages = await installedPackages(tree);
    // Versions may be newer than the tree's: the image's base has bookworm-updates and -security.
    expect(packages).toEqual(await installedPackages(rootfs));
    const wanted = (await runChecked(['bash', PROVISION_SH, 'packages', PACKAGES_TXT], fail))
      .trim()
      .split('\n')
      .map((line) => line.split(' ')[0] as string);
    expect(packages).toEqual(expect.arrayContaining(wanted));
    const pin = 'etc/apt/preferences.d/netmon-non-free';
    expect(await readFile(join(tree, pin), 'utf8')).toBe(await readFile(join(rootfs, pin), 'utf8'));

    const passwd = (text: string): string | undefined =>
      text.split('\n').find((line) => line.split(':')[2] === String(USER_ID));
    expect(passwd(await readFile(join(tree, 'etc/passwd'), 'utf8'))).toBe(
      passwd(await readFile(join(rootfs, 'etc/passwd'), 'utf8')),
    );
    expect(passwd(await readFile(join(tree, 'etc/passwd'), 'utf8'))).toMatch(/^netmon:x:65532:65532:/);
    expect(await readFile(join(tree, 'etc/group'), 'utf8')).toMatch(/^netmon:x:65532:$/m);
  });

  it('leaves no build files: no /tmp/netmon-build, no apt lists, the official apt sources', async () => {
    expect(await readdir(join(tree, 'tmp'))).toEqual([]);
    expect(
      (await readdir(join(tree, 'var/lib/apt/lists'))).filter((f) => f !== 'partial' && f !== 'lock'),
    ).toEqual([]);
    const sources = await readFile(join(tree, 'etc/apt/sources.list.d/debian.sources'), 'utf8');
    expect(sources).toMatch(/^Suites: bookworm bookworm-updates$/m);
    expect(sources).toMatch(/^Suites: bookworm-security$/m);
  });

  it('a second call finds the archive in the cache without building', async () => {
    const started = performance.now();
    const again = await flentImage({ progress: () => undefined });
    expect(again).toEqual({ ref: image.ref, archive: image.archive, built: false });
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
