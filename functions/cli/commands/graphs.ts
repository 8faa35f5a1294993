import type { Command } from 'commander';
import { PRESIGNED_URL_MAX_SECONDS } from '../../../layers/core/config.ts';
import { ValidationError } from '../../../layers/core/errors.ts';
import { type GraphLinks, graphLinks, parseGraphSet } from '../../../layers/pipeline/graph-links.ts';
import { storeFrom } from '../../../layers/wiring/context.ts';

/**
 * `netmon graphs urls [--expires 1h] [--set latest|<time>] [--json]`: a link
 * per file of a graph set that opens in a browser, a wiki or a ticket: S3
 * presigned GET URLs, signed here with the caller's credentials (NETMON_S3_*
 * and the AWS SDK's default chain). Nothing is sent to S3 but a listing of
 * the set.
 */

const UNIT_SECONDS: Record<string, number> = { d: 86_400, h: 3600, m: 60, s: 1 };
const EXPIRES_EXPECTED = `a duration from 1s to 7d, e.g. 90s, 30m, 1h, 2h30m, 7d, or whole seconds (at most ${PRESIGNED_URL_MAX_SECONDS}: SigV4 presigned URLs last 7 days at most)`;

/** `1h`, `2h30m`, `7d`, `45s` or bare seconds -> seconds, from 1 to 7 days. */
export function parseExpires(text: string): number {
  const trimmed = text.trim();
  let seconds = Number.NaN;
  if (/^\d+$/.test(trimmed)) seconds = Number(trimmed);
  else if (/^(\d+[dhms])+$/.test(trimmed)) {
    seconds = 0;
    for (const [, count, unit] of trimmed.matchAll(/(\d+)([dhms])/g)) {
      seconds += Number(count) * (UNIT_SECONDS[unit ?? 's'] ?? 1);
    }
  }
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > PRESIGNED_URL_MAX_SECONDS) {
    throw new ValidationError('--expires', text, EXPIRES_EXPECTED);
  }
  return seconds;
}

function describeSeconds(seconds: number): string {
  const parts: string[] = [];
  let rest = seconds;
  for (const [unit, size] of Object.entries(UNIT_SECONDS)) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}

/** What a person reads: one line per file (name, URL) on stdout; the set and how long the links open on stderr. */
function printText(links: GraphLinks, requestedUntil: number): void {
  const width = Math.max(...links.files.map((file) => file.name.length));
  const cutShort = Date.parse(links.expiresAt) < requestedUntil - 1000;
  process.stderr.write(
    `graph set ${links.set} (s3://${links.bucket}/${links.prefix}): ${links.files.length} files; the links open without credentials until ${links.expiresAt}${
      cutShort
        ? ', sooner than --expires: the credentials that signed them are temporary and end then'
        : ` (${describeSeconds(links.expiresSeconds)})`
    }\n`,
  );
  process.stdout.write(links.files.map((file) => `${file.name.padEnd(width)}  ${file.url}\n`).join(''));
}

interface UrlsOptions {
  expires: string;
  set: string;
  json?: boolean;
}

export function registerGraphs(program: Command): void {
  const graphs = program
    .command('graphs')
    .description('links to the graphs render writes to the S3 bucket (NETMON_S3_* settings)');

  graphs
    .command('urls')
    .description(
      'print a presigned HTTPS URL per file of a graph set (graph.svg, .dot, .graphml, .json, matrix-*.svg ...): it opens in a browser, no credentials needed, until it expires',
    )
    .option('--expires <duration>', 'how long the links open: 30m, 1h, 2h30m, 7d (at most 7d)', '1h')
    .option('--set <set>', 'latest, or a timestamped set: its folder under graphs/ or an ISO time', 'latest')
    .option('--json', 'JSON: bucket, set, expiresAt and {name, key, contentType, url} per file')
    .addHelpText(
      'after',
      [
        '',
        'Anyone who has a link can open that file until the link expires; it is signed with your credentials',
        '(never printed), so it opens only if they may read graphs/*. Links signed with temporary credentials',
        '(a role session, IRSA) stop opening when the session ends, even before --expires.',
        'Without links: make graphs/ public (serverless param publicRead, chart value graphs.publicRead).',
        '',
        'Example: netmon graphs urls --expires 1h',
      ].join('\n'),
    )
    .action(async (options: UrlsOptions) => {
      // Flags are checked before any setting is read or request made.
      const expires = parseExpires(options.expires);
      const set = parseGraphSet(options.set, '--set');
      const requestedUntil = Date.now() + expires * 1000;
      const links = await graphLinks(storeFrom(), set, expires);
      if (options.json) process.stdout.write(`${JSON.stringify(links, null, 2)}\n`);
      else printText(links, requestedUntil);
    });
}
