import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { basename } from 'node:path';

/**
 * A mark in the environment of the functions a test starts. Children inherit
 * their parent's environment, so every process a marked function starts
 * (flent, fping, irtt, netserver...) carries it too, even one its parent
 * left behind when killed: /proc finds them all, and nothing else.
 */
export interface ProcessMark {
  /** The variable to add to a function's environment. */
  readonly env: Record<string, string>;
  /** The processes alive now that carry the mark. */
  processes(): Promise<MarkedProcess[]>;
}

export interface MarkedProcess {
  pid: number;
  ppid: number;
  argv: string[];
}

export function processMark(name: string): ProcessMark {
  const value = randomUUID();
  const entry = `${name}=${value}`;
  return {
    env: { [name]: value },
    processes: async () => {
      const found: MarkedProcess[] = [];
      for (const pid of await readdir('/proc')) {
        if (!/^\d+$/.test(pid)) continue;
        const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
        if (!environ.split('\0').includes(entry)) continue;
        const [cmdline, stat] = await Promise.all([
          readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''),
          readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''),
        ]);
        // A zombie has no command line: it is gone, only not yet reaped.
        if (cmdline === '') continue;
        // Fields after the parenthesised command: state, then the parent's pid.
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        found.push({ pid: Number(pid), ppid, argv: cmdline.split('\0').filter((arg) => arg !== '') });
      }
      return found;
    },
  };
}

/** "pid command line", as a failed expectation should show a process. */
export function describeProcess(proc: MarkedProcess): string {
  return `${proc.pid} ${proc.argv.join(' ')}`;
}

/** Whether the process runs `program` (its own binary, or the script an interpreter runs). */
export function runs(proc: MarkedProcess, program: string): boolean {
  return proc.argv.slice(0, 2).some((arg) => basename(arg) === program);
}
