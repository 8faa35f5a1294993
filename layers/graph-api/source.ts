import { createHash } from 'node:crypto';
import { errorLine, NetmonError, ValidationError } from '../core/errors.ts';
import { redactUrl } from '../core/redact.ts';
import { type GraphModel, type GraphNode, graphFromJson, graphFromMetrics } from '../graph/index.ts';
import { type PairMetrics, queryLatestPairs } from '../metrics/query.ts';
import { querySweepPairs, type SweepPairMetrics } from '../metrics/sweep.ts';
import { type GraphSetFile, graphKey, graphSetPrefix } from '../store/keys.ts';
import type { ObjectStore } from '../store/s3-store.ts';
import { isTimeout, SourceWatch } from './health.ts';
import { withMaxAge } from './views.ts';

/**
 * Where the graph API's graph comes from: the set the render function last
 * wrote to S3 (cheap, as fresh as render's schedule), or Prometheus, asked on
 * request (always current, costs a query and a layout per change).
 */

/** The source cannot be read (S3 or Prometheus unreachable, or a document it holds is broken). */
export class GraphSourceError extends NetmonError {
  override name = 'GraphSourceError';

  /** The source did not answer in time (504), rather than answering with a failure (502). */
  get timedOut(): boolean {
    return isTimeout(this.cause);
  }
}

/** A source that answered "no graph yet" has answered: only a GraphSourceError counts against it. */
function newSourceWatch(): SourceWatch {
  return new SourceWatch((err) => err instanceof GraphSourceError);
}

/** The source works but holds no graph yet. */
export class NoGraphError extends NetmonError {
  override name = 'NoGraphError';
}

export interface GraphSource {
  readonly kind: 's3' | 'prometheus';
  /** Where it reads from, for logs and /healthz (no credentials). */
  readonly description: string;
  /** The current model; stale flags judged against maxAgeSeconds (default: the source's own). */
  model(maxAgeSeconds?: number): Promise<GraphModel>;
  /** S3 only: a file of the current set as render wrote it; undefined when the set has no such file. */
  stored?(file: GraphSetFile): Promise<Uint8Array | undefined>;
  /** Every read of the source, for /healthz. */
  readonly watch: SourceWatch;
}

/** Reuses one read of a source for `refreshSeconds`; concurrent callers share a read in flight. */
class Refreshing<T> {
  private value: { at: number; data: T } | undefined;
  private inFlight: Promise<T> | undefined;
  private readonly read: (previous: T | undefined) => Promise<T>;
  private readonly refreshMs: number;

  constructor(refreshSeconds: number, read: (previous: T | undefined) => Promise<T>) {
    this.refreshMs = refreshSeconds * 1000;
    this.read = read;
  }

  get(): Promise<T> {
    if (this.value !== undefined && Date.now() - this.value.at < this.refreshMs)
      return Promise.resolve(this.value.data);
    this.inFlight ??= this.read(this.value?.data)
      .then((data) => {
        this.value = { at: Date.now(), data };
        return data;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }
}

interface StoredSet {
  /** A hash of graph.json as read: a new hash is a new set (the text itself is megabytes at 100 nodes). */
  digest: string;
  model: GraphModel;
  files: Map<GraphSetFile, Promise<Uint8Array | undefined>>;
}

/** Reads of graph.json that are not JSON, retried before the document counts as broken (as ObjectStore.getJson). */
const HALF_WRITTEN_ATTEMPTS = 5;

export class S3GraphSource implements GraphSource {
  readonly kind = 's3';
  readonly description: string;
  readonly watch = newSourceWatch();
  private readonly store: ObjectStore;
  private readonly latest: Refreshing<StoredSet>;

  constructor(store: ObjectStore, refreshSeconds: number) {
    this.store = store;
    this.description = `s3://${store.bucket}/${graphSetPrefix('latest')}`;
    this.latest = new Refreshing(refreshSeconds, (previous) => this.watch.track(this.readSet(previous)));
  }

  /**
   * graph.json's bytes are hashed and parsed once, straight into the model:
   * at 100 nodes the document is 8 MB, and each extra copy (a parsed
   * document, its text kept for comparison) was tens of megabytes of the
   * graph API's peak memory (test/bench/graph-api.bench.ts).
   */
  private async readSet(previous: StoredSet | undefined): Promise<StoredSet> {
    const key = graphKey('latest', 'json');
    const where = `s3://${this.store.bucket}/${key}`;
    for (let attempt = 1; ; attempt++) {
      const bytes = await this.readFile('json');
      if (bytes === undefined) {
        throw new NoGraphError(
          `no graph in s3://${this.store.bucket}/${graphSetPrefix('latest')} yet: the render function writes one every few minutes (or set NETMON_GRAPH_API_SOURCE=prometheus)`,
        );
      }
      const digest = createHash('sha256').update(bytes).digest('base64url');
      // The same model, but the other files are read again: render writes graph.json before the
      // matrices, so a read between the two may have caught an older matrix.
      if (previous !== undefined && previous.digest === digest) return { ...previous, files: new Map() };
      try {
        return { digest, model: graphFromJson(Buffer.from(bytes).toString('utf8')), files: new Map() };
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        // s3rver (and some gateways) rewrite an object in place: a read racing a write sees half of it.
        if (err.cause instanceof SyntaxError && attempt < HALF_WRITTEN_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
          continue;
        }
        throw new GraphSourceError(`${where} is not a valid graph: ${err.message}`, { cause: err });
      }
    }
  }

  async model(maxAgeSeconds?: number): Promise<GraphModel> {
    const { model } = await this.latest.get();
    return maxAgeSeconds === undefined ? model : withMaxAge(model, maxAgeSeconds);
  }

  async stored(file: GraphSetFile): Promise<Uint8Array | undefined> {
    const set = await this.latest.get();
    let read = set.files.get(file);
    if (read === undefined) {
      read = this.watch.track(this.readFile(file));
      set.files.set(file, read);
      // A failed read is not remembered: the next request tries again.
      read.catch(() => set.files.delete(file));
    }
    return read;
  }

  private async readFile(file: GraphSetFile): Promise<Uint8Array | undefined> {
    const key = graphKey('latest', file);
    try {
      return await this.store.getBytes(key);
    } catch (err) {
      throw new GraphSourceError(`cannot read s3://${this.store.bucket}/${key}: ${errorLine(err)}`, {
        cause: err,
      });
    }
  }
}

/** The cluster's nodes with their addresses and labels (the pipeline's NodeSource is one). */
export interface GraphNodeSource {
  list(): Promise<readonly GraphNode[]>;
}

export interface PrometheusSourceOptions {
  prometheusUrl: string;
  /** Node addresses and labels; without it the nodes are the names seen in the metrics. */
  nodes?: GraphNodeSource;
  clusterName: string;
  maxAgeSeconds: number;
  refreshSeconds: number;
  /** Each query's timeout (default: the metrics layer's). */
  timeoutMs?: number;
  now?: () => Date;
}

export class PrometheusGraphSource implements GraphSource {
  readonly kind = 'prometheus';
  readonly description: string;
  readonly watch = newSourceWatch();
  private readonly options: PrometheusSourceOptions;
  private readonly latest: Refreshing<{
    pairs: PairMetrics[];
    sweeps: SweepPairMetrics[];
    nodes: readonly GraphNode[];
  }>;

  constructor(options: PrometheusSourceOptions) {
    this.options = options;
    this.description = redactUrl(options.prometheusUrl);
    const query = options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs };
    this.latest = new Refreshing(options.refreshSeconds, () => this.watch.track(read()));
    const read = async () => {
      try {
        const [pairs, sweeps] = await Promise.all([
          queryLatestPairs(options.prometheusUrl, query),
          querySweepPairs(options.prometheusUrl, query),
        ]);
        const nodes = options.nodes === undefined ? [] : await options.nodes.list();
        return { pairs, sweeps, nodes };
      } catch (err) {
        throw new GraphSourceError(
          `cannot read the latest figures from ${this.description}: ${errorLine(err)}`,
          {
            cause: err,
          },
        );
      }
    };
  }

  async model(maxAgeSeconds?: number): Promise<GraphModel> {
    const { pairs, sweeps, nodes } = await this.latest.get();
    if (pairs.length === 0 && sweeps.length === 0 && nodes.length === 0) {
      throw new NoGraphError(
        `no netmon figures in Prometheus at ${this.description} yet: no test has been pushed and scraped`,
      );
    }
    return graphFromMetrics(
      pairs,
      nodes,
      {
        title: `k8s-netmon: ${this.options.clusterName}`,
        schedule: null,
        now: (this.options.now ?? (() => new Date()))(),
        maxAgeSeconds: maxAgeSeconds ?? this.options.maxAgeSeconds,
      },
      sweeps,
    );
  }
}
