import { ConfigError, ValidationError } from '../core/errors.ts';
import { compactTime, GRAPH_SET_FILES, GRAPHS_PREFIX, graphSetPrefix } from '../store/keys.ts';
import { type ObjectStore, StoreError } from '../store/s3-store.ts';

/**
 * Links a person can open: presigned GET URLs for the files of a graph set
 * (graphs/latest/ or graphs/<time>/), valid for a while, signed with the
 * caller's credentials. Printed by `netmon graphs urls` and, when
 * NETMON_GRAPH_LINK_SECONDS is set, by render in its report.
 */

export interface GraphLink {
  /** The file name in the set: graph.svg, matrix-loss.svg ... */
  name: string;
  key: string;
  /** The media type render stores the file with (null for a file render does not know). */
  contentType: string | null;
  url: string;
}

export interface GraphLinks {
  bucket: string;
  /** latest, or the time of a timestamped set as its folder name (20261126T075012.345Z). */
  set: string;
  prefix: string;
  expiresSeconds: number;
  /** When the links stop opening: `expiresSeconds` from now, or sooner when temporary credentials end first. */
  expiresAt: string;
  files: GraphLink[];
}

const KNOWN_FILES: ReadonlyArray<{ name: string; contentType: string }> = Object.values(GRAPH_SET_FILES);
const COMPACT_TIME = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\.\d{1,3})?Z$/;

/**
 * `latest`, a set's folder name (20261126T075012.345Z) or an ISO time
 * (2026-11-26T07:50:12.345Z). `field` names the input in errors.
 */
export function parseGraphSet(text: string, field = '--set'): 'latest' | Date {
  if (text === 'latest') return 'latest';
  const compact = COMPACT_TIME.exec(text);
  const iso =
    compact === null
      ? text
      : `${compact.slice(1, 4).join('-')}T${compact.slice(4, 7).join(':')}${compact[7] ?? ''}Z`;
  const time = /^\d{4}-\d{2}-\d{2}T/.test(iso) ? new Date(iso) : new Date(Number.NaN);
  if (Number.isNaN(time.getTime())) {
    throw new ValidationError(
      field,
      text,
      "latest, or a set's time as its folder under graphs/ (e.g. 20261126T075012.345Z) or in ISO 8601",
    );
  }
  return time;
}

/** The name of a set's folder: latest or 20261126T075012.345Z. */
export function graphSetName(set: 'latest' | Date): string {
  return set === 'latest' ? 'latest' : compactTime(set);
}

/** The timestamped sets in the bucket, newest first (folder names). */
export async function listGraphSets(store: ObjectStore): Promise<string[]> {
  const latest = graphSetPrefix('latest');
  const prefixes = await explained(store, () => store.listPrefixes(GRAPHS_PREFIX));
  return prefixes
    .filter((prefix) => prefix !== latest)
    .map((prefix) => prefix.slice(GRAPHS_PREFIX.length, -1))
    .sort()
    .reverse();
}

/** The files of a set in render's order (graph.*, then the matrices), then any others it holds (a zone view ...). */
function ordered(names: readonly string[]): string[] {
  const known = KNOWN_FILES.map((file) => file.name).filter((name) => names.includes(name));
  return [...known, ...names.filter((name) => !known.includes(name)).sort()];
}

function contentTypeOf(name: string): string | null {
  const known = KNOWN_FILES.find((file) => file.name === name);
  if (known !== undefined) return known.contentType;
  const extension = name.slice(name.lastIndexOf('.'));
  return KNOWN_FILES.find((file) => file.name.endsWith(extension))?.contentType ?? null;
}

/**
 * Presigned links to every file of one set. A set that does not exist is a
 * ValidationError naming the newest sets there are; a missing bucket or
 * missing or refused credentials say which setting to fix.
 */
export async function graphLinks(
  store: ObjectStore,
  set: 'latest' | Date,
  expiresSeconds: number,
): Promise<GraphLinks> {
  const prefix = graphSetPrefix(set);
  const names = (await explained(store, () => store.list(prefix)))
    .map((key) => key.slice(prefix.length))
    .filter((name) => name !== '' && !name.includes('/'));
  if (names.length === 0) throw await missingSet(store, graphSetName(set));
  const files: GraphLink[] = [];
  let expiresAt = Number.POSITIVE_INFINITY;
  for (const name of ordered(names)) {
    const key = `${prefix}${name}`;
    const signed = await explained(store, () => store.presignGet(key, expiresSeconds));
    expiresAt = Math.min(expiresAt, signed.expiresAt.getTime());
    files.push({ name, key, contentType: contentTypeOf(name), url: signed.url });
  }
  return {
    bucket: store.bucket,
    set: graphSetName(set),
    prefix,
    expiresSeconds,
    expiresAt: new Date(expiresAt).toISOString(),
    files,
  };
}

/** Presigned links to the given keys (render's latest set): file -> URL, and when they stop opening. */
export async function presignKeys<F extends string>(
  store: ObjectStore,
  keys: Readonly<Record<F, string>>,
  expiresSeconds: number,
): Promise<{ expiresAt: string; urls: Record<F, string> }> {
  const urls: Partial<Record<F, string>> = {};
  let expiresAt = Number.POSITIVE_INFINITY;
  for (const [file, key] of Object.entries(keys) as Array<[F, string]>) {
    const signed = await store.presignGet(key, expiresSeconds);
    urls[file] = signed.url;
    expiresAt = Math.min(expiresAt, signed.expiresAt.getTime());
  }
  return { expiresAt: new Date(expiresAt).toISOString(), urls: urls as Record<F, string> };
}

async function missingSet(store: ObjectStore, set: string): Promise<ValidationError> {
  const sets = await listGraphSets(store);
  const where = `s3://${store.bucket}/${GRAPHS_PREFIX}`;
  if (sets.length === 0) {
    return new ValidationError(
      '--set',
      set,
      `a graph set in ${where}, but there is none yet: render has not written one to this bucket (run the render function, or check NETMON_S3_BUCKET)`,
    );
  }
  const newest = sets.slice(0, 5);
  return new ValidationError(
    '--set',
    set,
    `latest or a set in ${where}; the newest: ${newest.join(', ')}${sets.length > newest.length ? ` (${sets.length} in all)` : ''}`,
  );
}

/** A store failure a user can act on, as the setting to fix; other errors as they are. */
async function explained<T>(store: ObjectStore, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (err) {
    if (!(err instanceof StoreError)) throw err;
    switch (err.failure) {
      case 'no-such-bucket':
        throw new ConfigError(
          'NETMON_S3_BUCKET',
          store.bucket,
          `an existing bucket: S3 says there is no bucket ${store.urlFor('')}`,
          { cause: err },
        );
      case 'no-credentials':
        throw new ConfigError(
          'AWS_ACCESS_KEY_ID',
          undefined,
          "credentials to sign the links with: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile, role or web identity the AWS SDK's default chain finds (it found none)",
          { cause: err },
        );
      case 'credentials-refused':
        throw new ConfigError(
          'AWS_ACCESS_KEY_ID',
          '[redacted]',
          `credentials S3 accepts: it refused these (${(err.cause as Error | undefined)?.name ?? 'refused'})`,
          { cause: err },
        );
      case 'access-denied':
        throw new StoreError(
          `these credentials may not list or read s3://${store.bucket}/${GRAPHS_PREFIX} (AccessDenied): links signed with them would not open either; grant s3:ListBucket on the bucket and s3:GetObject on ${GRAPHS_PREFIX}*`,
          { cause: err, failure: err.failure },
        );
      default:
        throw err;
    }
  }
}
