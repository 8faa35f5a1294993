import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Where a program would be found on PATH, or undefined. */
export function findOnPath(program: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** Programs missing from the search path (default: PATH plus /usr/sbin and /sbin, where Debian puts ip, tc and nft). */
export function missingPrograms(
  programs: readonly string[],
  searchPath = [process.env.PATH ?? '', '/usr/sbin', '/sbin'].join(delimiter),
): string[] {
  return programs.filter((program) => findOnPath(program, searchPath) === undefined);
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
