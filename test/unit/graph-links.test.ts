import { describe, expect, it } from 'vitest';
import { parseExpires } from '../../functions/cli/commands/graphs.ts';
import { ValidationError } from '../../layers/core/errors.ts';
import { graphSetName, parseGraphSet } from '../../layers/pipeline/graph-links.ts';

/** The flags of `netmon graphs urls`: durations up to SigV4's 7 days, graph sets by folder name or ISO time. */

describe('parseExpires', () => {
  it.each([
    ['1s', 1],
    ['90', 90],
    ['30m', 1800],
    ['1h', 3600],
    ['2h30m', 9000],
    ['1d12h', 129_600],
    ['7d', 604_800],
    ['604800', 604_800],
  ])('%s is %d s', (text, seconds) => {
    expect(parseExpires(text)).toBe(seconds);
  });

  it.each(['0', '0s', '7d1s', '604801', '8d', '1.5h', '-1h', 'h', '1w', ''])('refuses %j', (text) => {
    expect(() => parseExpires(text)).toThrow(ValidationError);
    expect(() => parseExpires(text)).toThrow(`--expires: ${JSON.stringify(text)} is not valid`);
  });
});

describe('parseGraphSet', () => {
  it('takes latest, a folder name under graphs/, or an ISO time; names the folder', () => {
    expect(parseGraphSet('latest')).toBe('latest');
    const time = new Date('2026-11-26T07:50:12.345Z');
    expect(parseGraphSet('20261126T075012.345Z')).toEqual(time);
    expect(parseGraphSet('2026-11-26T07:50:12.345Z')).toEqual(time);
    expect(graphSetName(parseGraphSet('20261126T075012Z'))).toBe('20261126T075012.000Z');
    expect(graphSetName(parseGraphSet('2026-11-26T08:50:12.345+01:00'))).toBe('20261126T075012.345Z');
    expect(graphSetName('latest')).toBe('latest');
  });

  it.each(['', 'newest', '2026-11-26', '20261126', '20261399T000000Z', 'graphs/latest/'])(
    'refuses %j',
    (text) => {
      expect(() => parseGraphSet(text)).toThrow(
        `--set: ${JSON.stringify(text)} is not valid; expected latest`,
      );
    },
  );
});
