import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseChronyTracking, parseKernelClock, readClockState } from '../../layers/core/clock.ts';
import { type ClockState, oneWayTrust, publishedOneWayDelay } from '../../layers/domain/clock.ts';

const fixture = (name: string): Promise<string> =>
  readFile(new URL(`../fixtures/clock/${name}`, import.meta.url), 'utf8');

function clock(overrides: Partial<ClockState>): ClockState {
  return { clockId: null, synchronised: true, errorBoundSeconds: 0.00001, source: 'chrony', ...overrides };
}

describe('clock state', () => {
  it('reads chrony tracking: bound = |offset| + root dispersion + root delay / 2; unsynchronised when it says so', async () => {
    const synced = parseChronyTracking(await fixture('chrony-synchronised.csv'), 'a');
    expect(synced).toMatchObject({ clockId: 'a', synchronised: true, source: 'chrony' });
    expect(synced.errorBoundSeconds).toBeCloseTo(0.000012345 + 0.000456789 + 0.001234567 / 2, 12);
    expect(parseChronyTracking(await fixture('chrony-unsynchronised.csv'), 'a').synchronised).toBe(false);
    expect(() => parseChronyTracking('506 Cannot talk to daemon', null)).toThrow(/not understood/);
  });

  it("reads the kernel's adjtimex figures: maxerror as the bound, STA_UNSYNC or TIME_ERROR as unsynchronised", async () => {
    expect(parseKernelClock(await fixture('kernel-synchronised.json'), 'b')).toEqual({
      clockId: 'b',
      synchronised: true,
      errorBoundSeconds: 0.005,
      source: 'kernel',
    });
    expect(parseKernelClock(await fixture('kernel-unsynchronised.json'), 'b')).toMatchObject({
      synchronised: false,
      errorBoundSeconds: 16,
    });
  });

  it("reads this host's clock without privileges (no chrony here: the kernel's), named by its boot id", async () => {
    const state = await readClockState();
    expect(state?.source).toBe('kernel');
    expect(state?.clockId).toBe((await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim());
    expect(state?.errorBoundSeconds).toBeGreaterThanOrEqual(0);
  });
});

describe('one-way delay trust', () => {
  const minRtt = 0.002; // 1 ms each way: the bounds may add up to 0.1 ms
  it('one clock at both ends (namespaces of one host): bound 0, trusted whatever its sync', () => {
    const shared = clock({ clockId: 'x', synchronised: false, errorBoundSeconds: 16 });
    expect(oneWayTrust(shared, { ...shared }, minRtt)).toMatchObject({ trusted: true, errorBoundSeconds: 0 });
  });

  it('two clocks: trusted only when both are synchronised and their bounds add up to at most 10 % of min RTT / 2', () => {
    const a = clock({ clockId: 'a', errorBoundSeconds: 0.00004 });
    const b = clock({ clockId: 'b', errorBoundSeconds: 0.00005 });
    expect(oneWayTrust(a, b, minRtt)).toMatchObject({ trusted: true });
    expect(oneWayTrust(a, b, minRtt).errorBoundSeconds).toBeCloseTo(0.00009, 12);
    expect(oneWayTrust(a, clock({ clockId: 'b', errorBoundSeconds: 0.00007 }), minRtt)).toMatchObject({
      trusted: false,
      reason: expect.stringMatching(/exceeds 10 % of min RTT/),
    });
    expect(oneWayTrust(a, { ...b, synchronised: false }, minRtt)).toMatchObject({
      trusted: false,
      reason: 'the clock of dst is not synchronised',
    });
    expect(oneWayTrust(a, { ...b, errorBoundSeconds: null }, minRtt).trusted).toBe(false);
    expect(oneWayTrust(undefined, b, minRtt)).toMatchObject({
      trusted: false,
      reason: 'the clock of src is unknown',
    });
    expect(oneWayTrust(a, b, null).trusted).toBe(false);
  });

  it('never publishes a negative one-way delay', () => {
    expect(publishedOneWayDelay(-0.0002)).toBeNull();
    expect(publishedOneWayDelay(0.0051)).toBe(0.0051);
    expect(publishedOneWayDelay(null)).toBeNull();
  });
});
