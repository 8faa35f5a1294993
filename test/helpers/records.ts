import type { TestRecord } from '../../layers/domain/record.ts';

/**
 * A TestRecord for tests that need one without running flent: a success of
 * udp_latency a -> b unless the overrides say otherwise (a failure needs
 * connectivity 0 and a network reason; a test that broke, connectivity null
 * and an infrastructure reason).
 */
export function testRecord(overrides: Partial<TestRecord> = {}): TestRecord {
  return {
    version: 1,
    schedule: 'owd',
    round: 'r1',
    src: 'a',
    dst: 'b',
    test: 'udp_latency',
    runId: `${overrides.src ?? 'a'}-${overrides.dst ?? 'b'}`,
    startTime: '2026-12-02T00:00:00.000Z',
    endTime: '2026-12-02T00:00:05.000Z',
    durationSeconds: 5,
    connectivity: 1,
    reason: null,
    message: null,
    exitCode: 0,
    stderrTail: null,
    archiveKey: null,
    summary: null,
    ...overrides,
  };
}
