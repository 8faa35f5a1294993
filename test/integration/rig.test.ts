import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import {
  checkRigHost,
  cleanupStaleRigs,
  listRigObjects,
  SimCluster,
  withSimCluster,
} from '../../infra/rig/sim-cluster.ts';
import { RigError } from '../../layers/core/errors.ts';
import { runChecked, runProcess, waitFor } from '../../layers/core/process.ts';

const holdScript = new URL('../rig/hold-cluster.ts', import.meta.url).pathname;

async function netnsPids(netns: string): Promise<string> {
  return (await runProcess(['ip', 'netns', 'pids', netns])).stdout.trim();
}

/** Starts hold-cluster.ts and resolves with what it built, once it is ready. */
async function holdCluster(): Promise<{ child: ReturnType<typeof spawn>; id: string; netns: string[] }> {
  const child = spawn(process.execPath, [holdScript], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`hold-cluster exited early (${code})`)));
  });
  return { child, ...(JSON.parse(first) as { id: string; netns: string[] }) };
}

async function objectsOf(id: string): Promise<string[]> {
  const all = await listRigObjects();
  const pid = Number(id.split('-')[0]);
  return [
    ...all.netns.filter((n) => n.includes(`-${id}-`)),
    ...all.links.filter((l) => l.startsWith(`nm${pid.toString(36)}.`)),
  ];
}

describe('simulated cluster rig', () => {
  it('builds namespaces on one bridge with addresses from 198.18.0.0/15, shaped egress and an ordered cut', async () => {
    await withSimCluster(
      {
        nodes: [
          { name: 'a', rateBitsPerSecond: 10e6 },
          { name: 'b', rateBitsPerSecond: 20e6 },
          { name: 'c' },
        ],
        cuts: [['a', 'b']],
      },
      async (cluster) => {
        for (const node of cluster.nodes) {
          expect(node.address).toMatch(/^198\.1[89]\.\d+\.\d+$/);
          const lo = await runChecked(['ip', '-n', node.netns, 'link', 'show', 'lo'], (m) => new Error(m));
          expect(lo).toContain('UP');
        }
        const qdisc = await runChecked(
          ['ip', 'netns', 'exec', cluster.node('a').netns, 'tc', 'qdisc', 'show', 'dev', 'eth0'],
          (m) => new Error(m),
        );
        expect(qdisc).toMatch(/tbf .*rate 10Mbit/);
        const ping = (src: string, dst: string) =>
          runProcess([...cluster.prefix(src), 'ping', '-c', '1', '-W', '1', cluster.node(dst).address]);
        // a->b is cut; b->a, a->c and c->b are not.
        expect((await ping('a', 'b')).exitCode).not.toBe(0);
        expect((await ping('b', 'a')).exitCode).toBe(0);
        expect((await ping('a', 'c')).exitCode).toBe(0);
        expect((await ping('c', 'b')).exitCode).toBe(0);
        expect(cluster.isCut('a', 'b')).toBe(true);
        expect(cluster.isCut('b', 'a')).toBe(false);
      },
    );
  });

  it('removes everything when the body fails, processes inside the namespaces included', async () => {
    let id = '';
    let netns: string[] = [];
    await expect(
      withSimCluster({ nodes: [{ name: 'x' }, { name: 'y' }] }, async (cluster) => {
        id = cluster.id;
        netns = cluster.nodes.map((n) => n.netns);
        // A long-lived process inside a namespace, left running on purpose.
        spawn('ip', ['netns', 'exec', cluster.node('x').netns, 'sleep', '3017'], { stdio: 'ignore' });
        await waitFor('the sleeper to start', async () => (await netnsPids(cluster.node('x').netns)) !== '');
        throw new Error('a test failed here');
      }),
    ).rejects.toThrow('a test failed here');
    expect(await objectsOf(id)).toEqual([]);
    expect(netns).toHaveLength(2);
    // SIGKILL is delivered at once but the process is reaped a moment later: wait for it, briefly.
    await waitFor(
      'the sleeper to be gone',
      async () => (await runProcess(['pgrep', '-f', '^sleep 3017$'])).stdout.trim() === '',
      {
        timeoutMs: 5000,
      },
    );
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('tears down on %s', async (signal) => {
    const held = await holdCluster();
    expect(await objectsOf(held.id)).not.toEqual([]);
    const exited = new Promise<number | null>((resolve) => held.child.once('exit', (code) => resolve(code)));
    held.child.kill(signal);
    expect(await exited).toBe(signal === 'SIGINT' ? 130 : 143);
    expect(await objectsOf(held.id)).toEqual([]);
  });

  it('a later run removes what a killed run left behind', async () => {
    const held = await holdCluster();
    const exited = new Promise((resolve) => held.child.once('exit', resolve));
    held.child.kill('SIGKILL');
    await exited;
    // SIGKILL leaves no chance to clean up: the namespaces and the netserver are still there.
    expect(await objectsOf(held.id)).not.toEqual([]);
    expect(await netnsPids(held.netns[0] as string)).not.toBe('');
    const removed = await cleanupStaleRigs();
    expect(removed.netns.sort()).toEqual([...held.netns].sort());
    expect(await objectsOf(held.id)).toEqual([]);
  });

  it('refuses bad node names, rates, delays and losses, naming the field, the value and the valid range', async () => {
    await expect(SimCluster.create({ nodes: [{ name: 'A B' }, { name: 'b' }] })).rejects.toThrow(
      /nodes\[0\]\.name/,
    );
    await expect(
      SimCluster.create({ nodes: [{ name: 'a', rateBitsPerSecond: -1 }, { name: 'b' }] }),
    ).rejects.toThrow(/nodes\[0\]\.rateBitsPerSecond: -1/);
    await expect(SimCluster.create({ nodes: [{ name: 'a' }] })).rejects.toThrow(RigError);
    await expect(
      SimCluster.create({ nodes: [{ name: 'a' }, { name: 'b', lossRatio: 0.7 }] }),
    ).rejects.toThrow('nodes[1].lossRatio: 0.7 is not valid; expected 0 to 0.5');
    await expect(
      SimCluster.create({ nodes: [{ name: 'a', lossRatio: -0.1 }, { name: 'b' }] }),
    ).rejects.toThrow('nodes[0].lossRatio: -0.1 is not valid; expected 0 to 0.5');
    await expect(
      SimCluster.create({ nodes: [{ name: 'a' }, { name: 'b', delaySeconds: 1.5 }] }),
    ).rejects.toThrow('nodes[1].delaySeconds: 1.5 is not valid; expected 0 to 1 s');
    await expect(
      SimCluster.create({ nodes: [{ name: 'a', delaySeconds: Number.NaN }, { name: 'b' }] }),
    ).rejects.toThrow('nodes[0].delaySeconds: NaN is not valid; expected 0 to 1 s');
  });

  it('refuses to run without root, saying why', async () => {
    const probe = `import { checkRigHost } from ${JSON.stringify(new URL('../../infra/rig/sim-cluster.ts', import.meta.url).pathname)}; checkRigHost();`;
    // Not root (uid 65534), but allowed to read the checkout wherever it lies (a 0700 temp dir in CI).
    const result = await runProcess(
      [
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        '--inh-caps=+dac_read_search',
        '--ambient-caps=+dac_read_search',
        process.execPath,
        '--input-type=module',
        '-e',
        probe,
      ],
      { env: { ...process.env, LOG_LEVEL: 'silent' } },
    );
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('the simulated cluster needs root');
  });

  it('refuses to run without ip, tc or nft, naming the packages to install', () => {
    expect(() => checkRigHost('/nonexistent')).toThrow(
      'the simulated cluster needs ip, tc, nft: install iproute2 nftables (bash infra/system/install.sh installs all system packages)',
    );
  });
});
