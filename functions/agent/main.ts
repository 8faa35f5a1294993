#!/usr/bin/env node
import { errorLine } from '../../layers/core/errors.ts';
import { markReady } from '../../layers/core/handler.ts';
import { runAgent, runSweepAgent, watchClock } from '../../layers/pipeline/agent.ts';
import { agentFrom, sweepAgentFrom } from '../../layers/wiring/context.ts';

/**
 * agent: the client pod's entry. Settings come from the pod's environment (NETMON_AGENT_*, NETMON_S3_*).
 * `agent.js clock` is the server pod's clock container instead: dst's clock until the pod is stopped.
 * `agent.js sweep <address>...` is a sweep pod: fping to every peer at once, the report as its termination message.
 */
export async function handler(_event: unknown): Promise<number> {
  if (process.argv[2] === 'clock') {
    const stop = new AbortController();
    process.once('SIGTERM', () => stop.abort());
    await watchClock(stop.signal);
    return 0;
  }
  if (process.argv[2] === 'sweep')
    return runSweepAgent(sweepAgentFrom().terminationLog, process.argv.slice(3));
  const { deps, task } = agentFrom();
  markReady('agent');
  return runAgent(deps, task);
}

if (import.meta.main) {
  try {
    process.exitCode = await handler({});
  } catch (err) {
    process.stderr.write(`agent: ${errorLine(err)}\n`);
    process.exitCode = 2;
  }
}
