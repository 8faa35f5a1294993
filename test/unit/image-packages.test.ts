import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../layers/core/process.ts';
import { DEFAULT_SERVER_PORTS } from '../../layers/domain/test-types.ts';
import { clientPod, type PodSettings, serverPod } from '../../layers/k8s/pods.ts';

/**
 * One package list, two readers: infra/system/install.sh installs every line
 * of packages.txt on this machine, the Flent image takes the lines tagged
 * "image" (Dockerfile -> provision.sh -> install.sh). These tests keep the
 * list, the image and the pod specs in agreement.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGES_TXT = join(root, 'infra/system/packages.txt');
const INSTALL_SH = join(root, 'infra/system/install.sh');
const PROVISION_SH = join(root, 'infra/images/flent/provision.sh');
const ROOTFS_SH = join(root, 'infra/images/flent/rootfs.sh');
const DOCKERFILE = join(root, 'infra/images/flent/Dockerfile');
const DOCKERIGNORE = join(root, 'infra/images/flent/Dockerfile.dockerignore');
const COMPONENTS = new Set(['main', 'contrib', 'non-free', 'non-free-firmware']);
const TAGS = new Set(['image', 'test', 'cluster']);
/** The programs the pods and flent's tests start, and the Debian package of each. */
const PROGRAM_PACKAGES: Record<string, string> = {
  flent: 'flent',
  netperf: 'netperf',
  netserver: 'netperf',
  fping: 'fping',
  ping: 'iputils-ping',
  irtt: 'irtt',
  // flent's metadata: the egress interface and qdisc, the TCP sysctls.
  ip: 'iproute2',
  tc: 'iproute2',
  sysctl: 'procps',
};

interface PackageLine {
  pkg: string;
  component: string;
  tags: string[];
}

/** packages.txt read independently of the shell readers. */
function parsePackages(text: string): PackageLine[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([first]) => first !== undefined && first !== '' && !first.startsWith('#'))
    .map(([pkg, ...words]) => ({
      pkg: pkg as string,
      component: words.find((word) => COMPONENTS.has(word)) ?? 'main',
      tags: words.filter((word) => TAGS.has(word)),
    }));
}

interface Instruction {
  keyword: string;
  args: string;
}

/** Dockerfile instructions: comments dropped, continuation lines joined. */
function parseDockerfile(text: string): Instruction[] {
  const joined = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

let lines: PackageLine[];
let image: PackageLine[];
let dockerfile: Instruction[];
let dir: string;

beforeAll(async () => {
  lines = parsePackages(await readFile(PACKAGES_TXT, 'utf8'));
  image = lines.filter((line) => line.tags.includes('image'));
  dockerfile = parseDockerfile(await readFile(DOCKERFILE, 'utf8'));
  dir = await mkdtemp(join(tmpdir(), 'netmon-image-packages-'));
});

afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('packages.txt and the Flent image', () => {
  it('has only known components and tags, and the image a runtime subset', () => {
    const text = lines.map((line) => `${line.pkg} ${line.component} ${line.tags.join(' ')}`);
    expect(new Set(lines.map((line) => line.pkg)).size, text.join('\n')).toBe(lines.length);
    expect(image.length).toBeGreaterThan(0);
    expect(image.length).toBeLessThan(lines.length);
    for (const line of lines) expect(line.tags.includes('image') && line.tags.includes('test')).toBe(false);
    // The runc proof's tools are for tests, never in the image.
    expect(lines.filter((line) => line.tags.includes('test')).map((line) => line.pkg)).toEqual(
      expect.arrayContaining(['runc', 'debootstrap']),
    );
  });

  it('provision.sh selects exactly the image lines, with their components', async () => {
    const result = await runProcess(['bash', PROVISION_SH, 'packages', PACKAGES_TXT]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual(image.map((line) => `${line.pkg} ${line.component}`));
  });

  it('puts netperf in the image from non-free and everything else of it from main', () => {
    expect(image.find((line) => line.pkg === 'netperf')?.component).toBe('non-free');
    expect(image.filter((line) => line.component !== 'main').map((line) => line.pkg)).toEqual(['netperf']);
  });

  it('carries every program the test pods and flent run', () => {
    const settings: PodSettings = {
      namespace: 'netmon',
      image: 'k8s-netmon:test',
      hostNetwork: true,
      s3Env: {},
      agentCommand: ['node', '/opt/netmon/agent.js'],
      slackSeconds: 60,
      ports: DEFAULT_SERVER_PORTS,
    };
    const request = {
      src: { name: 'a', address: '198.18.0.10' },
      dst: { name: 'b', address: '198.18.0.11' },
      test: 'rrul' as const,
      lengthSeconds: 10,
    };
    const context = { schedule: 's', round: 'r', runId: 'x' };
    const podPrograms = [
      ...(serverPod(request, context, settings).spec?.containers ?? []),
      ...(clientPod(request, context, settings, '198.18.0.11').spec?.containers ?? []),
    ].map((container) => container.command?.[0] ?? '');
    // node: the server pod's clock container and the client's agent (the agent bundle both).
    expect(podPrograms).toEqual(['netserver', 'irtt', 'node', 'node']);
    const imagePackages = new Set(image.map((line) => line.pkg));
    for (const program of [...podPrograms.filter((p) => p !== 'node'), ...Object.keys(PROGRAM_PACKAGES)]) {
      expect(imagePackages, `${program} (${PROGRAM_PACKAGES[program]})`).toContain(PROGRAM_PACKAGES[program]);
    }
  });

  it('the Dockerfile installs them only through provision.sh and install.sh, netperf through its pin', () => {
    const runs = dockerfile.filter((i) => i.keyword === 'RUN');
    expect(runs).toHaveLength(1);
    expect(runs[0]?.args).toMatch(
      /^bash \/tmp\/netmon-build\/provision\.sh install \/tmp\/netmon-build && rm -rf \/tmp\/netmon-build$/,
    );
    const copies = dockerfile.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    expect(copies).toContain(
      'infra/system/packages.txt infra/system/install.sh infra/images/flent/provision.sh /tmp/netmon-build/',
    );
    // No package, apt source or pin of its own: install.sh writes non-free's source and pin.
    expect(dockerfile.map((i) => i.args).join('\n')).not.toMatch(
      /apt-get|apt install|dpkg -i|sources\.list|preferences\.d/,
    );
  });

  it("the project's Flent tests reach the image: copied by the Dockerfile and rootfs.sh, installed by provision.sh, hashed", async () => {
    const copies = dockerfile.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    expect(copies).toContain('infra/system/flent-tests/ /tmp/netmon-build/flent-tests/');
    const rootfs = await readFile(ROOTFS_SH, 'utf8');
    expect(rootfs).toContain('cp -r -- "$system/flent-tests" "$rootfs/tmp/netmon-build/"');
    expect(rootfs).toContain('"$system"/flent-tests/*.conf');
    expect(await readFile(join(root, 'infra/images/flent/image.sh'), 'utf8')).toContain(
      "find infra/system/flent-tests -maxdepth 1 -type f -name '*.conf'",
    );
    // After the packages (flent must be there), as its own step.
    const provision = await readFile(PROVISION_SH, 'utf8');
    const packages = provision.indexOf('bash "$system/install.sh" "$selection"');
    const tests = provision.indexOf('bash "$system/install.sh" flent-tests "$system/flent-tests"');
    expect(packages).toBeGreaterThan(0);
    expect(tests).toBeGreaterThan(packages);
  });

  it('the Dockerfile matches rootfs.sh, package.json and the pods: Debian suite, Node 24, bundles, user', async () => {
    const suite = /^readonly SUITE=(\S+)$/m.exec(await readFile(ROOTFS_SH, 'utf8'))?.[1];
    const args = Object.fromEntries(
      dockerfile.filter((i) => i.keyword === 'ARG').map((i) => i.args.split('=') as [string, string]),
    );
    expect(args.DEBIAN_SUITE).toBe(suite);
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    expect(args.NODE_VERSION).toBe(pkg.devDependencies.node);
    expect(args.NODE_VERSION).toMatch(/^24\./);
    const froms = dockerfile.filter((i) => i.keyword === 'FROM').map((i) => i.args);
    expect(froms).toHaveLength(2);
    expect(froms[0]).toMatch(
      /^docker\.io\/library\/node:\$\{NODE_VERSION\}-\$\{DEBIAN_SUITE\}-slim AS node$/,
    );
    expect(froms[1]).toMatch(/^docker\.io\/library\/debian:\$\{DEBIAN_SUITE\}-slim$/);
    const copies = dockerfile.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    expect(copies).toContain('--from=node /usr/local/bin/node /usr/local/bin/node');
    // The chart runs node /opt/netmon/<fn>.js, the probe node /opt/netmon/agent.js.
    expect(copies).toContain('dist/*.js dist/package.json /opt/netmon/');
    const security = serverPod(
      {
        src: { name: 'a', address: '198.18.0.10' },
        dst: { name: 'b', address: '198.18.0.11' },
        test: 'ping',
        lengthSeconds: 5,
      },
      { schedule: 's', round: 'r', runId: 'x' },
      {
        namespace: 'n',
        image: 'i',
        hostNetwork: true,
        s3Env: {},
        agentCommand: [],
        slackSeconds: 1,
        ports: DEFAULT_SERVER_PORTS,
      },
    ).spec?.containers[0]?.securityContext;
    expect(dockerfile.find((i) => i.keyword === 'USER')?.args).toBe(
      `${security?.runAsUser}:${security?.runAsGroup}`,
    );
    for (const fn of ['plan', 'probe', 'render', 'agent'])
      await expect(access(join(root, 'functions', fn, 'main.ts'))).resolves.toBeUndefined();
  });

  it('the Dockerfile context lets in exactly what the Dockerfile copies', async () => {
    const allowed = (await readFile(DOCKERIGNORE, 'utf8'))
      .split('\n')
      .filter((line) => line.startsWith('!'))
      .map((line) => line.slice(1));
    const sources = dockerfile
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(' ').slice(0, -1));
    expect(allowed.sort()).toEqual([...new Set(sources)].sort());
  });
});

describe('install.sh and the tag column', () => {
  async function install(list: string): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
    const file = join(dir, `packages-${Date.now()}.txt`);
    await writeFile(file, list);
    return runProcess(['bash', INSTALL_SH, file], { timeoutMs: 30_000 });
  }

  it('reads components and ignores tags (packages this machine has)', async () => {
    const result = await install(
      '# comment\nbash image\ncoreutils main test\n\nnetperf non-free image\nprocps image\n',
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('system packages: all present\n');
    expect(result.exitCode).toBe(0);
  });

  it('refuses a word that is neither a component nor a tag, naming the line', async () => {
    const result = await install('bash\nnetperf non-fre image\n');
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/packages-\d+\.txt:2: 'non-fre' is neither a Debian component/);
  });
});
