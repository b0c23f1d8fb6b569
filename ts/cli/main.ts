#!/usr/bin/env node
// `tensorforge <command>`: train, evaluate, predict, bench, info. Mistakes (bad flags, missing or
// malformed files) print one line, "tensorforge <command>: error: ...", and exit non-zero with no
// stack trace; TENSORFORGE_DEBUG=1 adds the stack.
import * as os from 'os';
import { FlagSpec, FlagValue, UsageError, helpText, parseFlags } from './args';
import { Reporter } from './report';
import { libraryVersion } from './version';
import { TensorforgeError } from '../errors';
import { trainFlags } from './train';

interface Command {
  usage: string;
  description: string;
  flags: FlagSpec;
  positionals?: boolean;
  run(flags: Record<string, FlagValue>, positionals: string[]): Promise<number>;
}

const print = (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n');
const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

const commands: Record<string, Command> = {
  train: {
    usage: 'tensorforge train [--model cnn|mlp|transformer] [options]',
    description: 'Train a classifier and write the model, its card, learning curves and a confusion matrix to --out.\n' +
      'With no options: the CNN on the embedded Fashion-MNIST subset (10 000 training, 2 000 test images).',
    flags: trainFlags,
    async run(flags) {
      const { train } = await import('./train');
      const json = !!flags.json;
      const reporter = new Reporter(json ? process.stderr : process.stdout);
      const r = await train(flags, reporter);
      const test = r.card.metrics.test;
      if (json) print(JSON.stringify({ outDir: r.outDir, files: r.files, test, epochs: r.card.metrics.epochs.map(({ validation, ...e }) => ({ ...e, validation: validation && { loss: validation.loss, accuracy: validation.accuracy } })) }));
      else print(`test accuracy ${pct(test.accuracy)} · wrote ${r.files.join(', ')} to ${r.outDir}`);
      return 0;
    },
  },
  evaluate: {
    usage: 'tensorforge evaluate [--model <dir>] [--data <dir>] [options]',
    description: 'Load a trained model and report its loss, accuracy and per-class precision/recall/F1 on the test split.',
    flags: {
      model: { kind: 'string', arg: 'dir', default: 'tensorforge-output/cnn', help: 'a directory written by train (or its model.safetensors)' },
      data: { kind: 'string', arg: 'dir', help: 'IDX image directory for image models (default: the embedded subset)' },
      'batch-size': { kind: 'int', min: 1, max: 65536, default: 256, help: 'examples per forward pass' },
      limit: { kind: 'int', min: 1, help: 'use only the first n test images' },
      json: { kind: 'boolean', help: 'print the result as JSON' },
    },
    async run(flags) {
      const { evaluateDir } = await import('./evaluate');
      const r = await evaluateDir(flags.model as string, { dataDir: flags.data as string | undefined, batchSize: flags['batch-size'] as number, limit: flags.limit as number | undefined });
      if (flags.json) {
        print(JSON.stringify({ model: r.card.architecture.name, loss: r.loss, accuracy: r.accuracy, count: r.count, perClass: r.perClass, confusion: r.confusion }));
        return 0;
      }
      print(`${r.card.architecture.name} on ${r.count} test examples: loss ${r.loss.toFixed(4)}, accuracy ${pct(r.accuracy)}\n`);
      const w = Math.max(5, ...r.perClass.map((c) => c.name.length));
      print(`${'class'.padEnd(w)}  precision  recall     f1  support`);
      for (const c of r.perClass)
        print(`${c.name.padEnd(w)}  ${c.precision.toFixed(3).padStart(9)}  ${c.recall.toFixed(3).padStart(6)}  ${c.f1.toFixed(3).padStart(5)}  ${String(c.support).padStart(7)}`);
      return 0;
    },
  },
  predict: {
    usage: 'tensorforge predict [--model <dir>] <image.png | images.idx | text file> ... [--text "..."]',
    description: 'Classify PNG images (any size; converted to 28×28 grayscale), IDX image files, or, with a text model, text files and --text strings.',
    positionals: true,
    flags: {
      model: { kind: 'string', arg: 'dir', default: 'tensorforge-output/cnn', help: 'a directory written by train (or its model.safetensors)' },
      text: { kind: 'string', arg: 'text', multiple: true, help: 'a text to classify (text models; may be repeated)' },
      top: { kind: 'int', min: 1, max: 1000, default: 3, help: 'classes to show per input' },
      json: { kind: 'boolean', help: 'print the predictions as JSON' },
    },
    async run(flags, positionals) {
      const { predict } = await import('./evaluate');
      const preds = predict(flags.model as string, { files: positionals, texts: (flags.text as string[] | undefined) ?? [] }, flags.top as number);
      if (flags.json) print(JSON.stringify(preds));
      else for (const p of preds) print(`${p.input}: ${p.top.map((t) => `${t.label} ${(100 * t.probability).toFixed(1)}%`).join(', ')}`);
      return 0;
    },
  },
  bench: {
    usage: 'tensorforge bench [--quick] [--filter <substring>] [--json] [--peers [--peers-ort <dir>] [--python <path>]]',
    description: 'Run the benchmark harness: every kernel against the float64 reference, then timed (median ms, GFLOP/s or GB/s, fraction of the measured peak); with --peers, beside NumPy/OpenBLAS, PyTorch and onnxruntime-node where installed. Writes JSON and an SVG chart to bench/results.',
    positionals: true,
    flags: {},
    async run(_flags, rest) {
      // the harness parses its own flags
      const { main } = await import('../../bench/run');
      return main(rest);
    },
  },
  info: {
    usage: 'tensorforge info [--json]',
    description: 'Version, addon path, CPU features, threads and CUDA devices.',
    flags: { json: { kind: 'boolean', help: 'print as JSON' } },
    async run(flags) {
      const tf = await import('..');
      const i = tf.info();
      const cuda = tf.cuda.isAvailable() ? Array.from({ length: tf.cuda.deviceCount() }, (_, d) => tf.cuda.getDeviceProperties(d)) : [];
      const cpu = os.cpus()[0]?.model ?? 'unknown';
      const out = { version: i.version, addon: i.addon, node: process.version, platform: `${process.platform}-${process.arch}`, cpu, isa: i.isa, threads: i.threads, cpuFeatures: i.cpuFeatures, cuda: { available: i.cuda, devices: cuda } };
      if (flags.json) print(JSON.stringify(out));
      else {
        const features = Object.entries(i.cpuFeatures).filter(([, v]) => v).map(([k]) => k).join(' ');
        print([
          `tensorforge ${out.version}`, `addon        ${out.addon}`, `node         ${out.node} (${out.platform})`, `cpu          ${cpu}`,
          `kernels      ${out.isa} (features: ${features || 'none'})`, `threads      ${out.threads}`,
          `cuda         ${cuda.length ? cuda.map((d, k) => `#${k} ${JSON.stringify(d)}`).join('; ') : 'no devices'}`,
        ].join('\n'));
      }
      return 0;
    },
  },
};

const mainHelp = () => `tensorforge ${libraryVersion()}: deep learning for Node.js

usage: tensorforge <command> [options]

commands:
${Object.entries(commands).map(([n, c]) => `  ${n.padEnd(9)} ${c.description.split('\n')[0]}`).join('\n')}

Run 'tensorforge <command> --help' for a command's options.
`;

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    print(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    print(libraryVersion());
    return 0;
  }
  const cmd = commands[name];
  try {
    if (!cmd) throw new UsageError(`unknown command '${name}' (expected one of ${Object.keys(commands).join(', ')})`);
    if (name === 'bench') {
      if (rest.includes('--help') || rest.includes('-h')) { print(helpText(cmd.usage, cmd.description, { quick: { kind: 'boolean', help: 'small shapes, a smoke test' }, filter: { kind: 'string', arg: 'substring', help: 'only cases whose op contains this' }, json: { kind: 'boolean', help: 'print the report as JSON' }, peers: { kind: 'boolean', help: 'time the headline cases with the installed peers too' }, 'peers-ort': { kind: 'string', arg: 'dir', help: 'where onnxruntime-node is installed (its package or a project)' }, python: { kind: 'string', arg: 'path', help: 'the Python with numpy/torch (default /usr/bin/python3)' } })); return 0; }
      return await cmd.run({}, rest);
    }
    const { flags, positionals } = parseFlags(name, rest, cmd.flags, cmd.positionals);
    if (flags.help) {
      print(helpText(cmd.usage, cmd.description, cmd.flags));
      return 0;
    }
    return await cmd.run(flags, positionals);
  } catch (e) {
    const err = e as Error;
    const known = e instanceof UsageError || e instanceof TensorforgeError || err?.name === 'BenchUsageError' ||
      (typeof (e as NodeJS.ErrnoException)?.code === 'string' && (e as NodeJS.ErrnoException).syscall !== undefined);
    const hint = known || process.env.TENSORFORGE_DEBUG ? '' : ' (unexpected: rerun with TENSORFORGE_DEBUG=1 for the stack)';
    process.stderr.write(`tensorforge ${name}: error: ${(err?.message ?? String(e)).split('\n')[0]}${hint}\n`);
    if (process.env.TENSORFORGE_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
    return e instanceof UsageError || err?.name === 'BenchUsageError' ? 2 : 1;
  }
}

if (require.main === module) {
  run(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
