import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../layers/core/config.ts';
import { ConfigError } from '../../layers/core/errors.ts';
import { latestTick, parseSchedules } from '../../layers/core/schedules.ts';
import { deduplicationId } from '../../layers/queue/work-queue.ts';
import {
  archiveKey,
  decodeSegment,
  encodeSegment,
  graphKey,
  resultKey,
  roundKey,
} from '../../layers/store/keys.ts';

describe('storage keys', () => {
  it.each([
    'node-1',
    'ip-10-0-0-1.eu-west-1.compute.internal',
    'a/b',
    '..',
    '.',
    '',
    'ünïcode node',
    '100%',
    'x~y z+w',
  ])('encodes %j reversibly into one safe key segment', (name) => {
    const encoded = encodeSegment(name);
    expect(encoded).toMatch(/^[A-Za-z0-9._%-]+$/);
    expect(encoded).not.toMatch(/^\.{1,2}$/);
    expect(decodeSegment(encoded)).toBe(name);
  });

  it('leaves Kubernetes node names readable', () => {
    expect(encodeSegment('ip-10-0-0-1.eu-west-1.compute.internal')).toBe(
      'ip-10-0-0-1.eu-west-1.compute.internal',
    );
  });

  it('follows the documented layout', () => {
    const time = new Date('2026-11-26T07:50:12.345Z');
    expect(archiveKey('hourly', 'a/b', 'c', 'rrul', time)).toBe(
      'archives/hourly/2026/11/26/a%2Fb/c/rrul-20261126T075012.345Z.flent.gz',
    );
    expect(resultKey('hourly', '20261126T070000.000Z', 'a', 'b')).toBe(
      'results/hourly/20261126T070000.000Z/a/b.json',
    );
    expect(roundKey('hourly', 'r1')).toBe('rounds/hourly/r1.json');
    expect(graphKey('latest', 'svg')).toBe('graphs/latest/graph.svg');
    expect(graphKey(time, 'graphml')).toBe('graphs/20261126T075012.345Z/graph.graphml');
  });
});

describe('configuration', () => {
  const base = {
    NETMON_S3_BUCKET: 'netmon',
    NETMON_SQS_QUEUE_URL: 'http://127.0.0.1:9324/000/netmon.fifo',
  };

  it('reads, defaults and freezes settings', () => {
    const config = loadConfig(
      ['NETMON_S3_BUCKET', 'NETMON_S3_FORCE_PATH_STYLE', 'NETMON_VISIBILITY_TIMEOUT_SECONDS'],
      base,
    );
    expect(config).toEqual({
      NETMON_S3_BUCKET: 'netmon',
      NETMON_S3_FORCE_PATH_STYLE: true,
      NETMON_VISIBILITY_TIMEOUT_SECONDS: 120,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    ['NETMON_S3_BUCKET', 'Bad_Bucket!', 'Bad_Bucket!', 'an S3 bucket name'],
    ['NETMON_VISIBILITY_TIMEOUT_SECONDS', 'soon', 'soon', 'whole seconds from 10 to 43200'],
    // A URL that is not http(s) may hide credentials where the parser does not see them: not echoed.
    ['NETMON_S3_ENDPOINT', 'ftp://x', '[ftp: URL]', 'an http(s) URL'],
    ['NETMON_S3_FORCE_PATH_STYLE', 'yes', 'yes', 'true or false'],
  ])('names %s, its value and the expected form', (key, value, shown, expected) => {
    const run = () => loadConfig([key as 'NETMON_S3_BUCKET'], { ...base, [key]: value });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(`${key}: ${JSON.stringify(shown)} is not valid; expected ${expected}`);
  });

  it('reads a config file named by NETMON_CONFIG_FILE; the environment wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netmon-config-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ NETMON_S3_BUCKET: 'from-file', NETMON_GRAPH_KEEP: 7 }));
    expect(loadConfig(['NETMON_S3_BUCKET', 'NETMON_GRAPH_KEEP'], { NETMON_CONFIG_FILE: file })).toEqual({
      NETMON_S3_BUCKET: 'from-file',
      NETMON_GRAPH_KEEP: 7,
    });
    expect(
      loadConfig(['NETMON_S3_BUCKET'], { NETMON_CONFIG_FILE: file, NETMON_S3_BUCKET: 'from-env' })
        .NETMON_S3_BUCKET,
    ).toBe('from-env');
    writeFileSync(file, JSON.stringify({ NETMON_S3_BUCKT: 'typo' }));
    expect(() => loadConfig(['NETMON_S3_BUCKET'], { NETMON_CONFIG_FILE: file })).toThrow(
      /NETMON_S3_BUCKT.*only known keys/,
    );
    writeFileSync(file, '{ not json');
    expect(() => loadConfig(['NETMON_S3_BUCKET'], { NETMON_CONFIG_FILE: file })).toThrow(
      /NETMON_CONFIG_FILE.*a readable JSON file/,
    );
  });

  it('says which variable is missing', () => {
    expect(() => loadConfig(['NETMON_PUSHGATEWAY_URL'], {})).toThrow(
      'NETMON_PUSHGATEWAY_URL: undefined (missing) is not valid',
    );
  });
});

describe('schedules', () => {
  it('parses a valid list', () => {
    const [schedule] = parseSchedules(
      '[{"name":"hourly","cron":"0 * * * *","test":"rrul","lengthSeconds":30}]',
    );
    expect(schedule).toEqual({ name: 'hourly', cron: '0 * * * *', test: 'rrul', lengthSeconds: 30 });
  });

  it.each([
    ['[{"name":"Bad Name","cron":"* * * * *","test":"ping","lengthSeconds":5}]', 'NETMON_SCHEDULES[0].name'],
    ['[{"name":"a","cron":"61 * * * *","test":"ping","lengthSeconds":5}]', 'NETMON_SCHEDULES[0].cron'],
    ['[{"name":"a","cron":"* * * * *","test":"iperf","lengthSeconds":5}]', 'NETMON_SCHEDULES[0].test'],
    [
      '[{"name":"a","cron":"* * * * *","test":"ping","lengthSeconds":0}]',
      'NETMON_SCHEDULES[0].lengthSeconds',
    ],
    ['not json', 'NETMON_SCHEDULES'],
    [
      '[{"name":"a","cron":"* * * * *","test":"rrul","lengthSeconds":30,"timeoutSeconds":31}]',
      'NETMON_SCHEDULES[0].timeoutSeconds: 31 is not valid; expected at least 44 seconds (length + 2 x delay + 10 s to start)',
    ],
  ])('refuses %s naming %s', (json, field) => {
    expect(() => parseSchedules(json)).toThrow(field);
  });

  it('takes a timeoutSeconds of exactly length + 2 x delay + 10', () => {
    const [schedule] = parseSchedules(
      '[{"name":"a","cron":"* * * * *","test":"ping","lengthSeconds":5,"delaySeconds":0,"timeoutSeconds":15}]',
    );
    expect(schedule?.timeoutSeconds).toBe(15);
  });

  it('finds the latest tick at or before now, in the schedule time zone', () => {
    expect(latestTick({ cron: '*/15 * * * *' }, new Date('2026-11-26T10:14:59Z')).toISOString()).toBe(
      '2026-11-26T10:00:00.000Z',
    );
    expect(latestTick({ cron: '*/15 * * * *' }, new Date('2026-11-26T10:15:00Z')).toISOString()).toBe(
      '2026-11-26T10:15:00.000Z',
    );
    expect(
      latestTick(
        { cron: '0 9 * * *', timeZone: 'Europe/Berlin' },
        new Date('2026-11-26T10:00:00Z'),
      ).toISOString(),
    ).toBe('2026-11-26T08:00:00.000Z');
  });
});

describe('work queue messages', () => {
  it('deduplicates on schedule/round/src/dst, hashing what SQS would refuse', () => {
    expect(deduplicationId({ schedule: 's', round: 'r', src: 'a', dst: 'b' })).toBe('s/r/a/b');
    const long = deduplicationId({ schedule: 's', round: 'r', src: 'x'.repeat(100), dst: 'y'.repeat(100) });
    expect(long).toMatch(/^[0-9a-f]{64}$/);
    expect(deduplicationId({ schedule: 's', round: 'r', src: 'ü', dst: 'b' })).toMatch(/^[0-9a-f]{64}$/);
  });
});
