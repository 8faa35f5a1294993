/**
 * Test helper: builds a small simulated cluster, starts a netserver in its
 * first node, prints one JSON line describing it, then waits to be signalled.
 * Tests kill it (SIGINT, SIGTERM, SIGKILL) and check what it leaves behind.
 */

import { SimCluster } from '../../infra/rig/sim-cluster.ts';
import { runProcess, startProcess, waitFor } from '../../layers/core/process.ts';

const cluster = await SimCluster.create({
  nodes: [{ name: 'a', rateBitsPerSecond: 10e6 }, { name: 'b' }],
  cuts: [['a', 'b']],
});
const first = cluster.node('a');
startProcess([...cluster.prefix('a'), 'netserver', '-D', '-4', '-L', first.address, '-p', '12865']);
// Ready means the netserver is inside the namespace: tests that SIGKILL this
// helper count on finding it there afterwards.
await waitFor(
  'the netserver to enter its namespace',
  async () => (await runProcess(['ip', 'netns', 'pids', first.netns])).stdout.trim() !== '',
  { timeoutMs: 10_000 },
);
process.stdout.write(`${JSON.stringify({ id: cluster.id, netns: cluster.nodes.map((n) => n.netns) })}\n`);
setInterval(() => undefined, 1 << 30);
