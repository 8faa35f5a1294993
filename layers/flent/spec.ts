import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import { ValidationError } from '../core/errors.ts';
import {
  DEFAULT_DELAY_SECONDS,
  DELAY_RANGE,
  isTestName,
  LENGTH_RANGE,
  TEST_NAMES,
  TEST_TYPES,
  type TestName,
} from '../domain/test-types.ts';

/**
 * Tests flent does not have, run as `flent <test>` like its own: k8s-netmon
 * ships their files (infra/system/flent-tests/<test>.conf), which
 * infra/system/install.sh on this machine and the Flent image's provision.sh
 * install into flent's test directory, the only place flent loads tests from
 * (reading an archive back, `flent -i FILE`, loads its test too). Without
 * the file flent exits without an archive: a tool-error.
 */
export const SHIPPED_FLENT_TESTS: readonly TestName[] = ['udp_latency'];

const TITLE_MAX = 200;
/** Printable, one line: flent puts the title in the file name and the archive. */
const TITLE_CHARS = /^[\w .,:=+@-]*$/;

/** A title flent accepts from any text (node names may hold '/' or other bytes): the rest becomes '_'. */
export function flentTitle(text: string): string {
  return text.replace(/[^\w .,:=+@-]/g, '_').slice(0, TITLE_MAX);
}
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export interface FlentSpecInput {
  test: unknown;
  host: unknown;
  length?: unknown;
  delay?: unknown;
  title?: unknown;
  outputDir: unknown;
  netperfControlPort?: unknown;
}

export interface FlentSpec {
  test: TestName;
  host: string;
  /** Seconds of measurement. */
  length: number;
  /** Seconds flent waits before starting and after stopping the load. */
  delay: number;
  title?: string;
  outputDir: string;
  netperfControlPort?: number;
}

function integerIn(field: string, value: unknown, range: { min: number; max: number }, why = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < range.min || value > range.max) {
    throw new ValidationError(field, value, `an integer from ${range.min} to ${range.max}${why}`);
  }
  return value;
}

/** Checks every field of a spec; the error names the first bad field and its valid range. */
export function validateFlentSpec(input: FlentSpecInput): FlentSpec {
  if (!isTestName(input.test))
    throw new ValidationError('test', input.test, `one of ${TEST_NAMES.join(', ')}`);
  const host = input.host;
  if (typeof host !== 'string' || (isIP(host) === 0 && !HOSTNAME.test(host))) {
    throw new ValidationError('host', host, 'an IPv4/IPv6 address or a DNS host name');
  }
  const spec: FlentSpec = {
    test: input.test,
    host,
    length: integerIn(
      'length',
      input.length ?? 10,
      { min: TEST_TYPES[input.test].minLengthSeconds, max: LENGTH_RANGE.max },
      TEST_TYPES[input.test].minLengthSeconds > LENGTH_RANGE.min ? ` for ${input.test}` : '',
    ),
    delay: integerIn('delay', input.delay ?? DEFAULT_DELAY_SECONDS, DELAY_RANGE),
    outputDir: '',
  };
  if (typeof input.outputDir !== 'string' || !isAbsolute(input.outputDir)) {
    throw new ValidationError('outputDir', input.outputDir, 'an absolute directory path');
  }
  spec.outputDir = input.outputDir;
  if (input.title !== undefined) {
    const title = input.title;
    if (typeof title !== 'string' || title.length > TITLE_MAX || !TITLE_CHARS.test(title)) {
      throw new ValidationError(
        'title',
        title,
        `at most ${TITLE_MAX} characters of letters, digits, space and . , : = + @ - _`,
      );
    }
    spec.title = title;
  }
  if (input.netperfControlPort !== undefined) {
    spec.netperfControlPort = integerIn('netperfControlPort', input.netperfControlPort, {
      min: 1,
      max: 65535,
    });
  }
  return spec;
}

/** The argv for one flent run. Only validated values reach it, each as its own argument. */
export function buildFlentArgv(spec: FlentSpec, flentBinary = 'flent'): string[] {
  const argv = [
    flentBinary,
    spec.test,
    '--length',
    String(spec.length),
    '--delay',
    String(spec.delay),
    '--host',
    spec.host,
    '--data-dir',
    spec.outputDir,
    // No plots, no GUI: the archive is the product.
    '--format',
    'summary',
  ];
  if (spec.title !== undefined) argv.push('--title-extra', spec.title);
  if (spec.netperfControlPort !== undefined)
    argv.push('--netperf-control-port', String(spec.netperfControlPort));
  return argv;
}
