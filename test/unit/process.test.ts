import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runProcess, startProcess, waitFor } from '../../layers/core/process.ts';

async function processGroupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command: state, ppid, pgrp.
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') members.push(Number(entry));
  }
  return members;
}

describe('child processes', () => {
  it('streams stderr to onStderr as it comes, and still keeps it in the result', async () => {
    const seen: string[] = [];
    // Seen while the process still runs: streamed, not handed over at the end.
    const running = startProcess(['sh', '-c', 'echo first >&2; sleep 30'], {
      onStderr: (text) => seen.push(text),
    });
    await waitFor('the first line', async () => seen.join('').includes('first'), { timeoutMs: 5000 });
    expect(running.running).toBe(true);
    const result = await running.stop();
    expect(result.stderr).toContain('first');
  });

  it('kills the whole process group on timeout, grandchildren included', async () => {
    // A parent that starts a long-lived grandchild, as flent starts netperf.
    const script = 'sleep 300 & echo started; wait';
    const running = startProcess(['sh', '-c', script], { timeoutMs: 500, killGraceMs: 200 });
    const pid = running.pid as number;
    await waitFor('the grandchild to start', async () => (await processGroupMembers(pid)).length >= 2, {
      timeoutMs: 5000,
    });
    const result = await running.done;
    expect(result.timedOut).toBe(true);
    expect(result.stdout).toContain('started');
    await waitFor('the group to be gone', async () => (await processGroupMembers(pid)).length === 0, {
      timeoutMs: 5000,
    });
  });

  it('reports exit codes and keeps only the tail of long output', async () => {
    const result = await runProcess(['sh', '-c', 'seq 1 100000; echo oops >&2; exit 3'], {
      maxOutputBytes: 1000,
    });
    expect(result.exitCode).toBe(3);
    expect(result.timedOut).toBe(false);
    expect(result.stdout.length).toBeLessThanOrEqual(1000);
    expect(result.stdout.trimEnd().endsWith('100000')).toBe(true);
    expect(result.stderr).toBe('oops\n');
  });

  it('rejects when the program does not exist', async () => {
    await expect(runProcess(['/nonexistent/program'])).rejects.toThrow(/ENOENT/);
  });
});
