import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { oneWayFlows } from '../../layers/domain/figures.ts';
import { headlineOf } from '../../layers/domain/headline.ts';
import { UDP_LATENCY_SERIES } from '../../layers/domain/test-types.ts';
import { parseArchive } from '../../layers/flent/archive.ts';
import { decodeReport, encodeReport, TERMINATION_MESSAGE_LIMIT } from '../../layers/flent/compact.ts';
import { missingEssentials, runFlent } from '../../layers/flent/run.ts';
import { validateFlentSpec } from '../../layers/flent/spec.ts';
import { oneWaySeries, summarizeArchive } from '../../layers/flent/summary.ts';
import { flentStats, relativeDifference } from '../helpers/flent-stats.ts';

/**
 * udp_latency from a real archive: flent's irtt runner at 100 packets/s from
 * node a to node b of the rig, 3 s, with 5% random loss on each leg
 * (test/fixtures/flent/record-udp-latency.ts made it). The expected figures
 * are computed here from the archive's JSON, read without our parser.
 */
const FIXTURE = new URL('../fixtures/flent/udp_latency.flent.gz', import.meta.url).pathname;
const bytes = readFileSync(FIXTURE);

interface IrttPoint {
  val?: number;
  owd_up?: number;
  owd_down?: number;
  lost?: boolean;
  lost_dir?: string | null;
}
const json = JSON.parse(gunzipSync(bytes).toString('utf8')) as {
  metadata: { NAME: string; SERIES_META: Record<string, Record<string, number | string | null>> };
  raw_values: Record<string, IrttPoint[]>;
};
const raw = json.raw_values[UDP_LATENCY_SERIES] ?? [];
const meta = json.metadata.SERIES_META[UDP_LATENCY_SERIES] ?? {};

/** numpy.percentile's default (linear) on ms values, in seconds. */
function percentile(values: number[], percent: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (percent / 100) * (sorted.length - 1);
  const low = sorted[Math.floor(rank)] as number;
  const high = sorted[Math.min(Math.floor(rank) + 1, sorted.length - 1)] as number;
  return (low + (high - low) * (rank - Math.floor(rank))) / 1000;
}
const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

const summary = summarizeArchive(parseArchive(bytes, FIXTURE));
const oneWay = summary.oneWay?.[UDP_LATENCY_SERIES];

describe('udp_latency: the archive', () => {
  it('is irtt at 100 packets/s with loss on both legs, as recorded', () => {
    expect(json.metadata.NAME).toBe('udp_latency');
    expect(meta.RUNNER).toBe('IrttRunner');
    expect(meta.COMMAND).toMatch(/irtt client .* -i 0\.01s /);
    expect(raw.length).toBe(meta.PACKETS_SENT);
    const lostDirs = new Set(raw.filter((p) => p.lost).map((p) => p.lost_dir));
    expect([...lostDirs].sort()).toEqual(['down', 'up']);
  });
});

describe('udp_latency: the summary', () => {
  it('round trips as a latency series "udp": min, median, p99 and max agree with `flent -f stats`', async () => {
    const rtt = summary.latency[UDP_LATENCY_SERIES];
    expect(rtt?.unit).toBe('s');
    expect(rtt?.runner).toBe('IrttRunner');
    expect(rtt?.count).toBe(meta.PACKETS_RECEIVED);
    const theirs = (await flentStats(FIXTURE))[UDP_LATENCY_SERIES];
    expect(theirs).toBeDefined();
    for (const key of ['min', 'median', 'p99', 'max', 'mean'] as const) {
      expect(relativeDifference(rtt?.[key] as number, theirs?.[key] as number), key).toBeLessThan(1e-5);
    }
    expect(summary.throughput.upload.total).toBeNull();
    expect(summary.throughput.download.total).toBeNull();
  });

  it('one-way delays up (src -> dst) and down (dst -> src) from the raw values, in seconds', () => {
    const received = raw.filter((p) => p.lost !== true);
    for (const [leg, values] of [
      ['up', received.map((p) => p.owd_up as number)],
      ['down', received.map((p) => p.owd_down as number)],
    ] as const) {
      const figures = oneWay?.[leg];
      expect(figures?.count, leg).toBe(values.length);
      expect(figures?.min).toBeCloseTo(Math.min(...values) / 1000, 12);
      expect(figures?.max).toBeCloseTo(Math.max(...values) / 1000, 12);
      expect(figures?.median).toBeCloseTo(percentile(values, 50), 12);
      expect(figures?.p99).toBeCloseTo(percentile(values, 99), 12);
      expect(figures?.mean).toBeCloseTo(sum(values) / values.length / 1000, 12);
    }
    // irtt's own means (its send and receive delays), which flent keeps in the metadata.
    expect(relativeDifference(oneWay?.up.mean as number, (meta.OWD_UP_MEAN as number) / 1000)).toBeLessThan(
      1e-5,
    );
    expect(
      relativeDifference(oneWay?.down.mean as number, (meta.OWD_DOWN_MEAN as number) / 1000),
    ).toBeLessThan(1e-5);
    // On the rig both nodes share one clock: the legs add up to the round trip, packet by packet,
    // within 0.1 ms (irtt takes the round trip from monotonic clocks, the one-way delays from wall clocks).
    for (const p of received)
      expect(Math.abs((p.owd_up as number) + (p.owd_down as number) - (p.val as number))).toBeLessThan(0.1);
  });

  it('loss per leg: lost_dir counts over packets sent; with the unknown ones they make the total', () => {
    const lost = (dir: string): number => raw.filter((p) => p.lost === true && p.lost_dir === dir).length;
    const sent = meta.PACKETS_SENT as number;
    expect(oneWay).toMatchObject({
      packetsSent: sent,
      packetsReceived: meta.PACKETS_RECEIVED,
      lostUnknown: 0,
      up: { lost: lost('up'), lossRatio: lost('up') / sent },
      down: { lost: lost('down'), lossRatio: lost('down') / sent },
    });
    expect(lost('up')).toBeGreaterThan(0);
    expect(lost('down')).toBeGreaterThan(0);
    expect(oneWay?.lossRatio).toBe(meta.PACKET_LOSS_RATE);
    expect(oneWay?.lossRatio).toBeCloseTo((lost('up') + lost('down')) / sent, 12);
    expect(oneWay?.packetsSent).toBe((oneWay?.packetsReceived ?? 0) + lost('up') + lost('down'));
    // The series' own loss is the same total.
    expect(summary.latency[UDP_LATENCY_SERIES]?.lossRatio).toBe(oneWay?.lossRatio);
  });

  it('a lost packet irtt could not place (flent keeps lost_dir "true" or none) is lostUnknown', () => {
    const archive = parseArchive(bytes, FIXTURE);
    const points = archive.raw_values[UDP_LATENCY_SERIES] ?? [];
    const [first, second] = points.filter((p) => p.lost === true);
    if (first === undefined || second === undefined) throw new Error('the fixture has lost packets');
    first.lost_dir = 'true';
    delete second.lost_dir;
    const figures = oneWaySeries(archive, UDP_LATENCY_SERIES);
    expect(figures.lostUnknown).toBe(2);
    expect(figures.up.lost + figures.down.lost).toBe((oneWay?.up.lost ?? 0) + (oneWay?.down.lost ?? 0) - 2);
  });

  it('without irtt samples the run measured nothing; other tests have no oneWay key', () => {
    expect(missingEssentials(summary)).toEqual([]);
    const archive = parseArchive(bytes, FIXTURE);
    archive.raw_values[UDP_LATENCY_SERIES] = [];
    archive.results[UDP_LATENCY_SERIES] = archive.results[UDP_LATENCY_SERIES]?.map(() => null) ?? [];
    const empty = summarizeArchive(archive);
    expect(missingEssentials(empty)).toEqual([UDP_LATENCY_SERIES]);
    expect(empty.oneWay?.[UDP_LATENCY_SERIES]?.up).toMatchObject({ count: 0, median: null });
    const ping = summarizeArchive(
      parseArchive(readFileSync(new URL('../fixtures/flent/ping-lossy.flent.gz', import.meta.url))),
    );
    expect('oneWay' in ping).toBe(false);
  });

  it('the headline is the UDP probe: its median round trip and total loss; no throughput', () => {
    expect(headlineOf(summary)).toEqual({
      probe: 'udp',
      latencySeconds: summary.latency[UDP_LATENCY_SERIES]?.median,
      lossRatio: meta.PACKET_LOSS_RATE,
      throughput: { src_to_dst: null, dst_to_src: null },
    });
    expect(oneWayFlows(summary).map((f) => [f.probe, f.direction, f.leg.lost])).toEqual([
      ['udp', 'src_to_dst', oneWay?.up.lost],
      ['udp', 'dst_to_src', oneWay?.down.lost],
    ]);
  });

  it("the agent's report carries the one-way figures to 6 significant digits and back", () => {
    const text = encodeReport(
      { ok: true, summary, archivePath: '/tmp/u.flent.gz', durationSeconds: 5.5 },
      '198.18.0.11',
      null,
    );
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(TERMINATION_MESSAGE_LIMIT);
    const decoded = decodeReport(text);
    if (!decoded.outcome.ok) throw new Error('expected success');
    const back = decoded.outcome.summary.oneWay?.[UDP_LATENCY_SERIES];
    expect(back).toMatchObject({
      packetsSent: oneWay?.packetsSent,
      packetsReceived: oneWay?.packetsReceived,
      lostUnknown: 0,
      up: { count: oneWay?.up.count, lost: oneWay?.up.lost },
      down: { count: oneWay?.down.count, lost: oneWay?.down.lost },
    });
    for (const leg of ['up', 'down'] as const) {
      for (const key of ['min', 'mean', 'median', 'p99', 'max', 'lossRatio'] as const)
        expect(relativeDifference(back?.[leg][key] as number, oneWay?.[leg][key] as number)).toBeLessThan(
          1e-5,
        );
    }
    expect(headlineOf(decoded.outcome.summary).probe).toBe('udp');
    // A report of another test has no oneWay, and neither has its decoded summary.
    const { oneWay: _, ...withoutOneWay } = summary;
    const other = decodeReport(
      encodeReport({ ok: true, summary: withoutOneWay, archivePath: '/x', durationSeconds: 1 }, 'h', null),
    );
    expect(other.outcome.ok && 'oneWay' in other.outcome.summary).toBe(false);
  });
});

describe('udp_latency: failures without an archive (stand-ins for flent and fping)', () => {
  async function reasonOf(flentStderr: string): Promise<[string, string]> {
    const dir = await mkdtemp(join(tmpdir(), 'netmon-udp-latency-'));
    try {
      const script = async (name: string, body: string): Promise<string> => {
        const path = join(dir, name);
        await writeFile(path, `#!/bin/sh\n${body}\n`);
        await chmod(path, 0o755);
        return path;
      };
      // The host answers ICMP; flent writes no archive and exits 0, as flent 2.1.1 does.
      const fping = await script(
        'fping',
        "echo '198.51.100.7 : xmt/rcv/%loss = 3/3/0%, min/avg/max = 1/1/1' >&2",
      );
      const flent = await script('flent', `echo '${flentStderr}' >&2; exit 0`);
      const spec = validateFlentSpec({
        test: 'udp_latency',
        host: '198.51.100.7',
        length: 2,
        delay: 0,
        outputDir: dir,
      });
      const outcome = await runFlent(spec, { flentBinary: flent, fpingBinary: fping, timeoutMs: 5000 });
      if (outcome.ok) throw new Error('the stand-in flent wrote no archive, yet the run is ok');
      return [outcome.failure.reason, outcome.failure.message];
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('no irtt server on dst: server-missing, naming irtt and its port', async () => {
    const [reason, message] = await reasonOf(
      'ERROR: Runner Ping (ms) UDP failed check: Irtt connection check failed: Error: read udp4 198.51.100.1:38355->198.51.100.7:2112: read: connection refused',
    );
    expect(reason).toBe('server-missing');
    expect(message).toContain('no irtt server answers on UDP port 2112');
  });

  it("flent without the project's test file (it takes the name for a host): a tool-error saying install.sh", async () => {
    const [reason, message] = await reasonOf('ERROR: Found no hostnames on lookup of udp_latency');
    expect(reason).toBe('tool-error');
    expect(message).toMatch(/flent has no test udp_latency.*infra\/system\/install\.sh/);
  });
});
