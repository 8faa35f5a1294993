import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../layers/core/errors.ts';
import { expectedRunSeconds } from '../../layers/domain/test-types.ts';
import { buildFlentArgv, validateFlentSpec } from '../../layers/flent/spec.ts';

const valid = { test: 'tcp_upload', host: '198.18.0.10', length: 5, outputDir: '/tmp/out' };

function fieldOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected a ValidationError');
}

describe('flent spec', () => {
  it('builds an argv with each value as its own argument', () => {
    const spec = validateFlentSpec({ ...valid, title: 'a to b', delay: 1, netperfControlPort: 12866 });
    expect(buildFlentArgv(spec)).toEqual([
      'flent',
      'tcp_upload',
      '--length',
      '5',
      '--delay',
      '1',
      '--host',
      '198.18.0.10',
      '--data-dir',
      '/tmp/out',
      '--format',
      'summary',
      '--title-extra',
      'a to b',
      '--netperf-control-port',
      '12866',
    ]);
    expect(expectedRunSeconds(spec.length, spec.delay)).toBe(7);
  });

  it('accepts every allowed test and host names', () => {
    for (const test of ['ping', 'tcp_upload', 'tcp_download', 'rrul', 'udp_latency']) {
      expect(validateFlentSpec({ ...valid, test, host: 'node-1.cluster.local' }).test).toBe(test);
    }
    expect(validateFlentSpec({ ...valid, host: 'fd00::1' }).host).toBe('fd00::1');
  });

  it.each([
    [{ test: 'tcp_8down' }, 'test', 'one of ping, tcp_upload, tcp_download, rrul, udp_latency'],
    [{ test: 'udp_latency', length: 1 }, 'length', 'an integer from 2 to 3600 for udp_latency'],
    [{ length: 1 }, 'length', 'an integer from 2 to 3600 for tcp_upload'],
    [{ test: 'ping', length: 0 }, 'length', 'an integer from 1 to 3600'],
    [{ length: 3601 }, 'length', 'an integer from 2 to 3600'],
    [{ length: 2.5 }, 'length', 'an integer from 2 to 3600'],
    [{ delay: -1 }, 'delay', 'an integer from 0 to 60'],
    [{ host: '198.18.0.1; rm -rf /' }, 'host', 'an IPv4/IPv6 address or a DNS host name'],
    [{ host: '-H' }, 'host', 'an IPv4/IPv6 address or a DNS host name'],
    [{ outputDir: 'relative/dir' }, 'outputDir', 'an absolute directory path'],
    [{ title: 'x\ny' }, 'title', 'at most 200 characters'],
    [{ netperfControlPort: 70000 }, 'netperfControlPort', 'an integer from 1 to 65535'],
  ])('refuses %j naming the field and the valid range', (override, field, expected) => {
    const err = fieldOf(() => validateFlentSpec({ ...valid, ...override }));
    expect(err.field).toBe(field);
    expect(err.message).toContain(field);
    expect(err.message).toContain(expected);
  });
});
