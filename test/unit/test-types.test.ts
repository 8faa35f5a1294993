import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runChecked } from '../../layers/core/process.ts';
import {
  DEFAULT_DELAY_SECONDS,
  DEFAULT_SERVER_PORTS,
  DELAY_RANGE,
  expectedRunSeconds,
  LENGTH_RANGE,
  TEST_NAMES,
  TEST_TYPES,
  type TestName,
} from '../../layers/domain/test-types.ts';
import { SHIPPED_FLENT_TESTS, validateFlentSpec } from '../../layers/flent/spec.ts';

/**
 * The test-type registry is the one source of what tests exist and their
 * bounds. The chart's CRD and values schema and serverless.yml restate some
 * of it in their own languages; these tests fail when they drift apart.
 */
const ROOT = new URL('../..', import.meta.url).pathname;
const read = (...path: string[]): string => readFileSync(join(ROOT, ...path), 'utf8');

interface SchemaNode {
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  default?: unknown;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  if?: SchemaNode;
  then?: SchemaNode;
  'x-kubernetes-validations'?: Array<{ rule: string; message: string }>;
}

function crdSpec(): SchemaNode {
  const crd = parse(read('k8s', 'netmon', 'crds', 'testschedule.yaml')) as {
    spec: { versions: Array<{ schema: { openAPIV3Schema: SchemaNode } }> };
  };
  const spec = crd.spec.versions[0]?.schema.openAPIV3Schema.properties?.spec;
  if (spec === undefined) throw new Error('the CRD has no spec schema');
  return spec;
}

function valuesScheduleItem(): SchemaNode {
  const schema = JSON.parse(read('k8s', 'netmon', 'values.schema.json')) as SchemaNode;
  const item = schema.properties?.schedules?.items;
  if (item === undefined) throw new Error('values.schema.json has no schedules.items');
  return item;
}

/** Test names grouped by a minimum length above the general one: {2: ['tcp_upload', ...]}. */
function longerMinimums(): Map<number, TestName[]> {
  const groups = new Map<number, TestName[]>();
  for (const name of TEST_NAMES) {
    const min = TEST_TYPES[name].minLengthSeconds;
    if (min > LENGTH_RANGE.min) groups.set(min, [...(groups.get(min) ?? []), name]);
  }
  return groups;
}

describe('test-type registry', () => {
  it('every test type has a sane minimum length and flent accepts exactly the registered names', () => {
    for (const name of TEST_NAMES) {
      const { minLengthSeconds } = TEST_TYPES[name];
      expect(minLengthSeconds).toBeGreaterThanOrEqual(LENGTH_RANGE.min);
      expect(minLengthSeconds).toBeLessThanOrEqual(LENGTH_RANGE.max);
      const spec = { test: name, host: '198.18.0.1', outputDir: '/tmp' };
      expect(validateFlentSpec({ ...spec, length: minLengthSeconds }).test).toBe(name);
      if (minLengthSeconds > LENGTH_RANGE.min) {
        expect(() => validateFlentSpec({ ...spec, length: minLengthSeconds - 1 })).toThrow(/length/);
      }
    }
    expect(() => validateFlentSpec({ test: 'udp_flood', host: '198.18.0.1', outputDir: '/tmp' })).toThrow(
      TEST_NAMES.join(', '),
    );
  });

  it('the CRD: test enum, length and delay bounds, the delay default and one CEL rule per longer minimum', () => {
    const spec = crdSpec();
    expect(spec.properties?.test?.enum).toEqual([...TEST_NAMES]);
    expect(spec.properties?.length).toMatchObject({ minimum: LENGTH_RANGE.min, maximum: LENGTH_RANGE.max });
    expect(spec.properties?.delay).toMatchObject({
      minimum: DELAY_RANGE.min,
      maximum: DELAY_RANGE.max,
      default: DEFAULT_DELAY_SECONDS,
    });
    const rules = (spec['x-kubernetes-validations'] ?? []).map((v) => v.rule);
    const lengthRules = rules.filter((rule) => rule.includes('self.length >='));
    const expected = [...longerMinimums()].map(
      ([min, names]) =>
        `!has(self.length) || !(self.test in [${names.map((n) => `'${n}'`).join(', ')}]) || self.length >= ${min}`,
    );
    expect(lengthRules).toEqual(expected);
  });

  it('the values schema: test enum, length and delay bounds, and the longer minimums', () => {
    const item = valuesScheduleItem();
    expect(item.properties?.test?.enum).toEqual([...TEST_NAMES]);
    expect(item.properties?.length).toMatchObject({ minimum: LENGTH_RANGE.min, maximum: LENGTH_RANGE.max });
    expect(item.properties?.delay).toMatchObject({ minimum: DELAY_RANGE.min, maximum: DELAY_RANGE.max });
    const groups = [...longerMinimums()];
    // JSON Schema draft 7 has one if/then per object: enough while there is one longer minimum.
    expect(groups).toHaveLength(1);
    const [min, names] = groups[0] as [number, TestName[]];
    expect(item.if?.properties?.test?.enum).toEqual(names);
    expect(item.then?.properties?.length?.minimum).toBe(min);
  });

  it("the chart's values: default ports and every schedule's test and length valid", () => {
    const values = parse(read('k8s', 'netmon', 'values.yaml')) as {
      ports: Record<string, number>;
      schedules: Array<{ test: TestName; length: number }>;
    };
    expect(values.ports).toEqual(DEFAULT_SERVER_PORTS);
    for (const schedule of values.schedules) {
      expect(TEST_NAMES).toContain(schedule.test);
      expect(schedule.length).toBeGreaterThanOrEqual(TEST_TYPES[schedule.test].minLengthSeconds);
    }
  });

  it("flent has every test: its own, or the project's file installed in flent's test directory", async () => {
    const shipped = readdirSync(join(ROOT, 'infra', 'system', 'flent-tests'))
      .filter((file) => file.endsWith('.conf'))
      .map((file) => file.slice(0, -'.conf'.length));
    expect(shipped.sort()).toEqual([...SHIPPED_FLENT_TESTS].sort());
    // `flent --list-tests` reads flent's test directory, where infra/system/install.sh puts the shipped files.
    const listed = await runChecked(['flent', '--list-tests'], (m) => new Error(m));
    const available = new Set([...listed.matchAll(/^\s*(\S+)\s+:/gm)].map((m) => m[1]));
    for (const name of TEST_NAMES)
      expect(available, `flent ${name}: run infra/system/install.sh`).toContain(name);
    const testPath = await runChecked(
      [
        'bash',
        '-c',
        'entry=$(readlink -f "$(command -v flent)"); PYTHONPATH=$(dirname "$entry") "$(sed -n "1s/^#!//p" "$entry")" -c "import flent.testenv as t; print(t.TEST_PATH)"',
      ],
      (m) => new Error(m),
    );
    for (const name of SHIPPED_FLENT_TESTS) {
      expect(
        readFileSync(join(testPath.trim(), `${name}.conf`), 'utf8'),
        `${name}: run infra/system/install.sh`,
      ).toBe(read('infra', 'system', 'flent-tests', `${name}.conf`));
    }
  });

  it("serverless.yml: the probe's timeout holds its budget plus the longest test of the chart's schedules", () => {
    const serverless = parse(read('serverless.yml'), {
      customTags: [{ tag: '!Ref', resolve: (value: string) => ({ Ref: value }) }],
      // CloudFormation's short forms (!GetAtt, !Sub...) are not ours to read here.
      logLevel: 'silent',
    }) as { functions: { probe: { timeout: number; environment: Record<string, string> } } };
    const values = parse(read('k8s', 'netmon', 'values.yaml')) as {
      schedules: Array<{ length: number; delay?: number }>;
    };
    const longest = Math.max(...values.schedules.map((s) => expectedRunSeconds(s.length, s.delay)));
    const probe = serverless.functions.probe;
    const budget = Number(probe.environment.NETMON_PROBE_BUDGET_SECONDS);
    expect(probe.timeout).toBeGreaterThanOrEqual(budget + longest);
  });
});
