#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { errorLine, NetmonError } from '../../layers/core/errors.ts';
import { registerCluster } from './commands/cluster.ts';
import { registerDemo } from './commands/demo/index.ts';
import { registerFlent } from './commands/flent.ts';
import { registerGraphs } from './commands/graphs.ts';
import { registerRender } from './commands/render.ts';
import { registerResults } from './commands/results.ts';
import { registerRig } from './commands/rig.ts';

/** `netmon`: the operator's command line. Each command is a thin layer over layers/. */
const program = new Command()
  .name('netmon')
  .description(
    'k8s-netmon: measure connectivity, latency and bandwidth between every ordered pair of cluster nodes with Flent.',
  )
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerFlent(program);
registerDemo(program);
registerResults(program);
registerRender(program);
registerGraphs(program);
registerRig(program);
registerCluster(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander has already printed its message (or the help text).
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`netmon: ${err instanceof NetmonError ? err.message : errorLine(err)}\n`);
    process.exitCode = err instanceof NetmonError ? 2 : 1;
  }
}
