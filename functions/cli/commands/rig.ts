import type { Command } from 'commander';
import { cleanupStaleRigs, listRigObjects } from '../../../infra/rig/sim-cluster.ts';

export function registerRig(program: Command): void {
  const rig = program
    .command('rig')
    .description('the simulated cluster (network namespaces) used by the demo and tests');
  rig
    .command('cleanup')
    .description('remove namespaces and links left behind by simulated clusters whose process has died')
    .action(async () => {
      const removed = await cleanupStaleRigs();
      const now = await listRigObjects();
      process.stdout.write(
        `removed ${removed.netns.length} namespaces and ${removed.links.length} links; ${now.netns.length} namespaces of running clusters remain\n`,
      );
    });
}
