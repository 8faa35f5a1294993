import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FailureReason } from '../../layers/domain/outcome.ts';
import { icmpCheckArgv, runFlent } from '../../layers/flent/run.ts';
import { validateFlentSpec } from '../../layers/flent/spec.ts';

/**
 * How runFlent names a failure when flent writes nothing, with stand-ins for
 * flent and fping (shell scripts): a measurement tool that cannot run is a
 * tool-error, never a finding about the network.
 */

const HOST = '198.51.100.7';
let dir: string;

async function script(name: string, body: string, mode = 0o755): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, mode);
  return path;
}

async function reasonOf(fping: string, flentStderr: string, flentExit = 1): Promise<[FailureReason, string]> {
  const flent = await script(`flent-${flentExit}`, `echo '${flentStderr}' >&2; exit ${flentExit}`);
  const spec = validateFlentSpec({ test: 'tcp_upload', host: HOST, length: 2, delay: 0, outputDir: dir });
  const outcome = await runFlent(spec, { flentBinary: flent, fpingBinary: fping, timeoutMs: 5000 });
  if (outcome.ok) throw new Error('the stand-in flent wrote no archive, yet the run is ok');
  return [outcome.failure.reason, outcome.failure.message];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netmon-flent-run-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('runFlent failure reasons', () => {
  it('an fping that cannot be executed (EACCES/EPERM at exec) makes a tool-error, not unreachable', async () => {
    // Not executable: spawn fails as the agent's exec of a file-capability fping fails under no_new_privs.
    const fping = await script('fping-noexec', 'exit 0', 0o644);
    const [reason, message] = await reasonOf(fping, 'flent: something broke');
    expect(reason).toBe('tool-error');
    expect(message).toContain('reachability is unknown');
  });

  it('an fping that exits 126 (a shell could not execute it) makes a tool-error', async () => {
    const fping = await script('fping-126', "echo 'sh: 1: fping: Operation not permitted' >&2; exit 126");
    const [reason, message] = await reasonOf(fping, 'flent: something broke');
    expect(reason).toBe('tool-error');
    expect(message).toContain('Operation not permitted');
  });

  it('an fping that cannot open an ICMP socket (exit 4) makes a tool-error', async () => {
    const fping = await script(
      'fping-4',
      `echo "fping: can't create socket (must run as root?)" >&2; exit 4`,
    );
    expect((await reasonOf(fping, 'flent: something broke'))[0]).toBe('tool-error');
  });

  it('a flent that cannot be executed (exit 127) makes a tool-error', async () => {
    const fping = await script('fping-silent', `echo '${HOST} : xmt/rcv/%loss = 3/0/100%' >&2; exit 1`);
    const [reason, message] = await reasonOf(fping, 'sh: 1: flent: not found', 127);
    expect(reason).toBe('tool-error');
    expect(message).toContain('cannot execute flent');
  });

  it('a host that does not answer is still unreachable', async () => {
    const fping = await script('fping-silent', `echo '${HOST} : xmt/rcv/%loss = 3/0/100%' >&2; exit 1`);
    expect((await reasonOf(fping, 'flent: something broke'))[0]).toBe('unreachable');
  });

  it('binds the check (-S 0.0.0.0): unprivileged fping 5.1 gets replies only then', async () => {
    expect(icmpCheckArgv(HOST)).toEqual([
      'fping',
      '-q',
      '-S',
      '0.0.0.0',
      '-c',
      '3',
      '-p',
      '20',
      '-t',
      '500',
      HOST,
    ]);
    // fping 5.1 on an ICMP datagram socket: 100% loss unless the socket is bound first.
    const fping = await script(
      'fping-dgram',
      `case " $* " in *" -S 0.0.0.0 "*) echo '${HOST} : xmt/rcv/%loss = 3/3/0%, min/avg/max = 0.05/0.06/0.07' >&2; exit 0;; esac
echo '${HOST} : xmt/rcv/%loss = 3/0/100%' >&2; exit 1`,
    );
    const [reason] = await reasonOf(fping, 'establish_control could not establish the control connection');
    expect(reason).toBe('server-missing');
  });
});
