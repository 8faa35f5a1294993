/**
 * The registry of test types: every fact about a test that is not how Flent
 * is called. Everything that names, validates, times or interprets a test
 * reads it from here: the CRD, the values schema and serverless.yml are
 * checked against it by test/unit/test-types.test.ts.
 *
 * Adding a test type: docs/adding-a-test-type.md.
 */

/** Flent's direction names: the client runs on src, the server on dst; upload flows src -> dst. */
export type Direction = 'upload' | 'download';

/** The servers dst runs for every test: netperf's netserver (TCP, UDP_RR) and irtt (UDP round trips). */
export type ServerProgram = 'netserver' | 'irtt';

export interface TestType {
  /** One line for --help texts and docs. */
  description: string;
  /**
   * Directions whose TCP throughput the test exists to measure: a run without
   * them measured nothing. Every test also needs a latency series with samples.
   */
  throughput: readonly Direction[];
  /** Shorter runs measure TCP's start more than the path. */
  minLengthSeconds: number;
  /**
   * Latency series (flent's names) the test exists to measure: a run without
   * samples in each of them measured nothing. Empty: any latency series with
   * samples will do.
   */
  latency: readonly string[];
  /**
   * irtt series whose per-packet one-way delays and loss per direction the
   * summary carries (FlentSummary.oneWay). Other tests' irtt series (ping's,
   * rrul's) keep the shape they always had.
   */
  oneWay: readonly string[];
}

/** The one series of udp_latency: named as flent's ping test names its UDP probe, so it is the probe "udp". */
export const UDP_LATENCY_SERIES = 'Ping (ms) UDP';

export const TEST_NAMES = ['ping', 'tcp_upload', 'tcp_download', 'rrul', 'udp_latency'] as const;
export type TestName = (typeof TEST_NAMES)[number];

export const TEST_TYPES: Readonly<Record<TestName, TestType>> = {
  ping: {
    description: 'ICMP (fping) and UDP (irtt) round trips, no load',
    throughput: [],
    minLengthSeconds: 1,
    latency: [],
    oneWay: [],
  },
  tcp_upload: {
    description: 'one TCP stream src -> dst (netperf TCP_STREAM) with ICMP pings',
    throughput: ['upload'],
    minLengthSeconds: 2,
    latency: [],
    oneWay: [],
  },
  tcp_download: {
    description: 'one TCP stream dst -> src (netperf TCP_MAERTS) with ICMP pings',
    throughput: ['download'],
    minLengthSeconds: 2,
    latency: [],
    oneWay: [],
  },
  rrul: {
    description: 'four TCP streams each way plus UDP and ICMP pings: latency under load',
    throughput: ['upload', 'download'],
    minLengthSeconds: 2,
    latency: [],
    oneWay: [],
  },
  udp_latency: {
    description: 'UDP round trips, one-way delays and loss per direction (irtt at 100 packets/s, no load)',
    throughput: [],
    // At 100 packets/s: some 200 packets, so that p99 is not just the maximum
    // and one lost packet is at most half a percent.
    minLengthSeconds: 2,
    // Flent's irtt runner itself (infra/system/flent-tests/udp_latency.conf):
    // no fallback to netperf, whose UDP_RR knows no one-way delays.
    latency: [UDP_LATENCY_SERIES],
    oneWay: [UDP_LATENCY_SERIES],
  },
};

/**
 * The servers' default ports on dst (settings NETMON_NETSERVER_PORT and
 * NETMON_IRTT_PORT change them). 2112 is irtt's own default, and flent's irtt
 * runner always connects there: on another port rrul's UDP probes fall back
 * to netperf UDP_RR through the netserver.
 */
export type ServerPorts = Readonly<Record<ServerProgram, number>>;
export const DEFAULT_SERVER_PORTS: ServerPorts = { netserver: 12865, irtt: 2112 };
export const SERVER_PROTOCOLS: Readonly<Record<ServerProgram, 'tcp' | 'udp'>> = {
  netserver: 'tcp',
  irtt: 'udp',
};

/** Seconds of measurement any test may ask for. */
export const LENGTH_RANGE = { min: 1, max: 3600 } as const;
/** Seconds flent waits before starting and after stopping the load. */
export const DELAY_RANGE = { min: 0, max: 60 } as const;
/** Flent's own default is 5 s on each side of the test; 2 s keeps rounds short and is enough for TCP to start. */
export const DEFAULT_DELAY_SECONDS = 2;

export function isTestName(value: unknown): value is TestName {
  return typeof value === 'string' && (TEST_NAMES as readonly string[]).includes(value);
}

/** Seconds flent itself expects to run: the test plus a delay on each side. */
export function expectedRunSeconds(lengthSeconds: number, delaySeconds = DEFAULT_DELAY_SECONDS): number {
  return lengthSeconds + 2 * delaySeconds;
}

/**
 * Seconds a test needs on top of flent's own run before its hard limit: the
 * test pods' start (image present) and flent's start-up. The TestSchedule
 * CRD's CEL rule and the chart's check write the same 10.
 */
export const TEST_START_SECONDS = 10;

/** The shortest timeoutSeconds a schedule may have: a shorter one kills every test at its deadline. */
export function minTimeoutSeconds(lengthSeconds: number, delaySeconds = DEFAULT_DELAY_SECONDS): number {
  return expectedRunSeconds(lengthSeconds, delaySeconds) + TEST_START_SECONDS;
}

/** Seconds a test may take beyond flent's own run: server start, lock, upload (probe's budget and a round's deadline). */
export const TEST_OVERHEAD_SECONDS = 40;

/** "ping, tcp_upload, tcp_download, rrul or udp_latency": for error messages. */
export function testNamesText(conjunction = 'or'): string {
  return `${TEST_NAMES.slice(0, -1).join(', ')} ${conjunction} ${TEST_NAMES[TEST_NAMES.length - 1]}`;
}

/** One line per test type, for --help texts. */
export function testTypesHelp(indent = '  '): string {
  const width = Math.max(...TEST_NAMES.map((name) => name.length));
  return TEST_NAMES.map((name) => `${indent}${name.padEnd(width)}  ${TEST_TYPES[name].description}`).join(
    '\n',
  );
}
