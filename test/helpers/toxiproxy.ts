import { freePort } from '../../infra/local-stack/prometheus.ts';
import { goBinary } from '../../infra/rig/go-binary.ts';
import { lastLines, type ManagedProcess, startProcess, waitFor } from '../../layers/core/process.ts';

/**
 * Toxiproxy (Shopify's fault-injecting TCP proxy, built from its Go module by
 * infra/k8s-test/build.sh, target toxiproxy) between the functions and a
 * real peer: the functions are given the proxy's URL, and a test turns the
 * peer away (proxy disabled: connections refused, open ones closed), silent
 * (timeout toxic), slow (latency) or resetting (reset_peer) through its
 * HTTP API. Everything listens on 127.0.0.1.
 */

/** upstream: client -> peer (requests); downstream: peer -> client (answers). */
export type Stream = 'upstream' | 'downstream';

export interface ToxicProxy {
  readonly name: string;
  /** The upstream URL with the proxy's address in its place: give this to the function under test. */
  readonly url: string;
  /** Disabled: new connections are refused and open ones closed. */
  down(): Promise<void>;
  up(): Promise<void>;
  /** Nothing passes on `stream`; with `closeAfterMs` 0 (the default) the connection is never closed. */
  timeout(stream?: Stream, closeAfterMs?: number): Promise<string>;
  /** Each chunk on `stream` waits `ms` (answers come late). */
  latency(ms: number, stream?: Stream): Promise<string>;
  /** The connection is reset (RST) `afterMs` after its first bytes on `stream`. */
  resetPeer(stream?: Stream, afterMs?: number): Promise<string>;
  /** Removes one toxic by the name its method returned. */
  removeToxic(name: string): Promise<void>;
  /** Removes every toxic and enables the proxy: the peer as it was. */
  heal(): Promise<void>;
  /** Bytes the proxy read from clients (upstream) or from the peer (downstream), toxics or not. */
  receivedBytes(stream: Stream): Promise<number>;
}

export interface Toxiproxy {
  readonly apiUrl: string;
  readonly pid: number | undefined;
  /** A proxy named `name` on a free loopback port in front of `upstream` (an http URL or host:port). */
  proxy(name: string, upstream: string): Promise<ToxicProxy>;
  /** Stops the server (SIGTERM, SIGKILL after 2 s) and waits for its exit; safe to call twice. */
  stop(): Promise<void>;
}

const BIND_ATTEMPTS = 5;
const READY_TIMEOUT_MS = 10_000;
/** A cold build (module download and compile) on a busy 2-core host. */
const BUILD_TIMEOUT_MS = 5 * 60_000;

export async function startToxiproxy(): Promise<Toxiproxy> {
  const { path } = await goBinary('toxiproxy', {
    timeoutMs: BUILD_TIMEOUT_MS,
    progress: (text) => process.stderr.write(text),
  });
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const apiUrl = `http://127.0.0.1:${port}`;
    const server = startProcess([path, '-host', '127.0.0.1', '-port', String(port), '-proxy-metrics'], {
      // zerolog's levels; the default (info) logs every connection.
      env: { ...process.env, LOG_LEVEL: 'warn' },
      maxOutputBytes: 64 << 10,
    });
    try {
      await waitFor('toxiproxy to answer', async () => !server.running || (await answers(apiUrl)), {
        timeoutMs: READY_TIMEOUT_MS,
        intervalMs: 50,
      });
    } catch (err) {
      await server.stop();
      throw err;
    }
    if (server.running) return client(apiUrl, server);
    // The free port was taken between our look and its bind: another one.
    const result = await server.done;
    const output = `${result.stdout}${result.stderr}`;
    if (/address already in use/i.test(output) && attempt < BIND_ATTEMPTS) continue;
    throw new Error(
      `toxiproxy exited (${result.exitCode ?? result.signal}) on ${apiUrl}: ${lastLines(output, 3)}`,
    );
  }
}

async function answers(apiUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${apiUrl}/version`, { signal: AbortSignal.timeout(1000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

function client(apiUrl: string, server: ManagedProcess): Toxiproxy {
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${apiUrl}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      signal: AbortSignal.timeout(5000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`toxiproxy ${method} ${path}: ${response.status} ${text.trim()}`);
    return text === '' ? undefined : JSON.parse(text);
  };

  const proxy = async (name: string, upstream: string): Promise<ToxicProxy> => {
    const target = /^[a-z]+:\/\//.test(upstream) ? new URL(upstream) : undefined;
    const created = (await call('POST', '/proxies', {
      name,
      // Port 0: toxiproxy binds a free port and reports it, and keeps it when disabled and enabled again.
      listen: '127.0.0.1:0',
      upstream: target === undefined ? upstream : target.host,
      enabled: true,
    })) as { listen: string };
    let url = created.listen;
    if (target !== undefined) {
      const through = new URL(target.href);
      through.host = created.listen;
      // new URL() keeps a trailing '/' the caller did not write.
      url = upstream.endsWith('/') ? through.href : through.href.replace(/\/$/, '');
    }
    const base = `/proxies/${encodeURIComponent(name)}`;
    const toxics = new Set<string>();
    let count = 0;
    const add = async (type: string, stream: Stream, attributes: Record<string, number>): Promise<string> => {
      count += 1;
      const toxic = `${type}-${stream}-${count}`;
      await call('POST', `${base}/toxics`, { name: toxic, type, stream, toxicity: 1, attributes });
      toxics.add(toxic);
      return toxic;
    };
    const removeToxic = async (toxic: string): Promise<void> => {
      await call('DELETE', `${base}/toxics/${encodeURIComponent(toxic)}`);
      toxics.delete(toxic);
    };
    return {
      name,
      url,
      down: async () => {
        await call('POST', base, { enabled: false });
      },
      up: async () => {
        await call('POST', base, { enabled: true });
      },
      timeout: (stream = 'upstream', closeAfterMs = 0) => add('timeout', stream, { timeout: closeAfterMs }),
      latency: (ms, stream = 'downstream') => add('latency', stream, { latency: ms, jitter: 0 }),
      resetPeer: (stream = 'upstream', afterMs = 0) => add('reset_peer', stream, { timeout: afterMs }),
      removeToxic,
      heal: async () => {
        for (const toxic of [...toxics]) await removeToxic(toxic);
        await call('POST', base, { enabled: true });
      },
      receivedBytes: async (stream) => {
        const response = await fetch(`${apiUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
        const text = await response.text();
        let total = 0;
        for (const line of text.split('\n')) {
          if (!line.startsWith('toxiproxy_proxy_received_bytes_total{')) continue;
          if (!line.includes(`direction="${stream}"`) || !line.includes(`proxy="${name}"`)) continue;
          total += Number(line.slice(line.lastIndexOf(' ') + 1));
        }
        return total;
      },
    };
  };

  return {
    apiUrl,
    pid: server.pid,
    proxy,
    stop: async () => {
      await server.stop();
    },
  };
}
