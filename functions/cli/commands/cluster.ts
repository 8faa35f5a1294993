import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { ValidationError } from '../../../layers/core/errors.ts';
import { checkPerNodeCount, perNodeList, RATES_FLAG } from '../per-node.ts';
import { positiveInteger } from './flent.ts';

/**
 * `netmon cluster up|down`: a local real Kubernetes cluster (control plane,
 * scheduler, controller-manager, N nodes of containerd + kubelet in network
 * namespaces). The cluster code (infra/cluster) is loaded only when a
 * cluster command runs, so that other commands start fast.
 */

const MIN_NODES = 2;
const MAX_NODES = 8;

interface UpOptions {
  nodes: number;
  out: string;
  rates?: number[];
  cut: Array<[string, string]>;
  stack: boolean;
  flentImage: boolean;
  image: string[];
}

function collectCut(value: string, previous: Array<[string, string]>): Array<[string, string]> {
  const [src, dst, ...rest] = value.split(':');
  if (src === undefined || dst === undefined || rest.length > 0 || src === '' || dst === '') {
    throw new InvalidArgumentError(`--cut wants SRC:DST (e.g. node-1:node-3), got ${JSON.stringify(value)}`);
  }
  return [...previous, [src, dst]];
}

function checkUp(options: UpOptions): void {
  if (options.nodes < MIN_NODES || options.nodes > MAX_NODES)
    throw new ValidationError('--nodes', options.nodes, `an integer from ${MIN_NODES} to ${MAX_NODES}`);
  checkPerNodeCount(RATES_FLAG, options.rates, options.nodes);
}

/** The checked options as the supervisor takes them (`up` and the hidden `supervise` alike). */
function upRequest(options: UpOptions) {
  checkUp(options);
  return {
    nodes: options.nodes,
    out: options.out,
    ratesMbit: options.rates,
    cuts: options.cut,
    stack: options.stack,
    flentImage: options.flentImage,
    images: options.image,
  };
}

function withUpOptions(command: Command): Command {
  return command
    .option('--nodes <n>', `nodes, ${MIN_NODES}..${MAX_NODES}`, positiveInteger('--nodes'), 3)
    .requiredOption('--out <dir>', 'folder for cluster.json, the kubeconfig, configs, node data and logs')
    .option(
      '--rates <mbits>',
      'egress rate of each node in Mbit/s, comma-separated (default: node i at 10*i)',
      perNodeList(RATES_FLAG),
    )
    .option('--cut <src:dst>', 'drop traffic from src to dst (repeatable)', collectCut, [])
    .option('--no-stack', 'without the embedded stack (S3, SQS, Pushgateway, Prometheus) for the pods')
    .option(
      '--no-flent-image',
      'without the Flent image (built from its Dockerfile, cached, imported into every node)',
    )
    .option(
      '--image <tar>',
      'a docker-archive image to import into every node, e.g. the Flent image (repeatable)',
      (value: string, previous: string[]) => [...previous, value],
      [],
    );
}

export function registerCluster(program: Command): void {
  const cluster = program
    .command('cluster')
    .description('a local real Kubernetes cluster: kubelets and containerd on simulated nodes (needs root)');

  withUpOptions(cluster.command('up'))
    .description('start the cluster and write DIR/cluster.json; it runs until `cluster down --out DIR`')
    .action(async (options: UpOptions) => {
      const { clusterUp } = await import('../../../infra/cluster/supervisor.ts');
      const cli = [process.execPath, ...process.execArgv, process.argv[1] ?? ''];
      const info = await clusterUp(upRequest(options), cli, (line) =>
        process.stderr.write(`cluster: ${line}\n`),
      );
      const how = info.startup.cold
        ? `cold: built ${info.startup.built.join(', ')}`
        : 'warm: binaries and images cached';
      // Since this command started (Node's clock starts with the process): what the user waited.
      const seconds = (performance.now() / 1000).toFixed(1);
      const rows = info.nodes.map(
        (n) =>
          `  ${n.name.padEnd(8)} ${n.address.padEnd(15)} ${n.rateBitsPerSecond === undefined ? 'unshaped' : `${n.rateBitsPerSecond / 1e6} Mbit/s`}  ${n.labels['topology.kubernetes.io/zone'] ?? ''}`,
      );
      process.stdout.write(
        [
          `cluster up: ${info.nodes.length} nodes Ready in ${seconds} s (${how}; the supervisor's part ${info.startup.seconds} s)`,
          ...rows,
          `  memory per node: ${info.startup.memoryPerNodeMiB} MiB (containerd, kubelet, kube-proxy: PSS when Ready)`,
          `  export KUBECONFIG=${info.kubeconfig}`,
          `  cluster.json: ${join(resolve(options.out), 'cluster.json')}`,
          `  helm values:  ${info.values}`,
          `  remove it:    npm run cluster -- down --out ${options.out}`,
          '',
        ].join('\n'),
      );
    });

  cluster
    .command('down')
    .description('stop the cluster in DIR and remove everything it made (also after a crash)')
    .requiredOption('--out <dir>', 'the folder given to `cluster up`')
    .action(async (options: { out: string }) => {
      const { clusterDown } = await import('../../../infra/cluster/supervisor.ts');
      await clusterDown(options.out, (line) => process.stderr.write(`cluster: ${line}\n`));
    });

  withUpOptions(cluster.command('supervise', { hidden: true }))
    .description('(internal) the process that owns a cluster: started by `cluster up`')
    .action(async (options: UpOptions) => {
      const { superviseCluster } = await import('../../../infra/cluster/supervisor.ts');
      await superviseCluster(upRequest(options));
    });
}
