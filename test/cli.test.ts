// The `tensorforge` command line: every subcommand runs (as a user runs it, a child process on
// dist/), writes what it promises, and answers mistakes with one line and a non-zero exit.
// The event-loop test runs training in this process next to a 50 ms timer.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '../ts';
import { train } from '../ts/cli/train';
import { Reporter } from '../ts/cli/report';
import { parseFlags } from '../ts/cli/args';
import { trainFlags } from '../ts/cli/train';
import { encodePng, decodePng, resizeGray } from '../ts/data/png';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'dist', 'ts', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(args: string[], opts: { cwd?: string } = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: opts.cwd ?? tmp, encoding: 'utf8', timeout: 300_000, env: { ...process.env, TENSORFORGE_DEBUG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A failed command: non-zero exit, exactly one line on stderr naming the problem, no stack
 *  (stdout may hold what the command logged before it failed). */
function expectOneLineError(args: string[], message: RegExp, code = 2) {
  const r = run(args);
  expect(r.code).toBe(code);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(message);
  expect(r.stderr + r.stdout).not.toMatch(/\n\s+at /);
}

const imageModel = path.join(tmp, 'mlp');

beforeAll(() => {
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run npm run build:ts (npm install does) first`);
  const r = run(['train', '--model', 'mlp', '--epochs', '2', '--limit', '1500', '--out', imageModel, '--json', '--seed', '7']);
  if (r.code !== 0) throw new Error(`training for the CLI tests failed: ${r.stderr}`);
}, 300_000);

describe('tensorforge train', () => {
  test('writes weights with the model card, the card as JSON, and two SVG charts', () => {
    const files = fs.readdirSync(imageModel).sort();
    expect(files).toEqual(['confusion.svg', 'curves.svg', 'model-card.json', 'model.safetensors']);
    const card = JSON.parse(fs.readFileSync(path.join(imageModel, 'model-card.json'), 'utf8'));
    expect(card.format).toBe('tensorforge-model-card/1');
    expect(card.architecture).toEqual({ name: 'mlp', config: { inFeatures: 784, hidden: 128, classes: 10 } });
    expect(card.library.version).toBe(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version);
    expect(card.seed).toBe(7);
    expect(card.hyperparameters).toMatchObject({ epochs: 2, batchSize: 64, optimizer: 'adam', lr: 2e-3, schedule: 'cosine' });
    expect(card.dataset.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(card.dataset.files.map((f: { name: string }) => f.name)).toEqual(['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']);
    expect(card.dataset).toMatchObject({ train: 1350, validation: 150, test: 1500 });
    expect(card.metrics.epochs).toHaveLength(2);
    expect(card.metrics.epochs[1].trainLoss).toBeLessThan(card.metrics.epochs[0].trainLoss);
    expect(card.metrics.test.accuracy).toBeGreaterThan(0.6);
    expect(Date.parse(card.date)).not.toBeNaN();
    // the weights file carries the same card, and PyTorch's state-dict names
    const header = tf.io.readHeader(path.join(imageModel, 'model.safetensors'));
    expect(JSON.parse(header.metadata['tensorforge.card'])).toEqual(card);
    expect(Object.keys(header.tensors).sort()).toEqual(['1.bias', '1.weight', '3.bias', '3.weight']);
    const curves = fs.readFileSync(path.join(imageModel, 'curves.svg'), 'utf8');
    expect(curves).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(curves).toContain('validation accuracy');
    const confusion = fs.readFileSync(path.join(imageModel, 'confusion.svg'), 'utf8');
    for (const c of tf.data.FASHION_MNIST_CLASSES) expect(confusion).toContain(c);
  });

  test('the same seed gives the same model', () => {
    const again = path.join(tmp, 'mlp-again');
    expect(run(['train', '--model', 'mlp', '--epochs', '2', '--limit', '1500', '--out', again, '--json', '--seed', '7']).code).toBe(0);
    const a = tf.io.load(path.join(again, 'model.safetensors')), b = tf.io.load(path.join(imageModel, 'model.safetensors'));
    expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
    for (const k of Object.keys(a)) expect(Array.from(a[k].dataSync())).toEqual(Array.from(b[k].dataSync()));
    [...Object.values(a), ...Object.values(b)].forEach((t) => t.dispose());
  }, 120_000);

  test('the text model trains on the spam corpus and saves its vocabulary', () => {
    const out = path.join(tmp, 'spam');
    const r = run(['train', '--model', 'transformer', '--epochs', '1', '--limit', '256', '--out', out, '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.files).toEqual(['model.safetensors', 'model-card.json', 'curves.svg', 'confusion.svg', 'vocab.json']);
    const card = JSON.parse(fs.readFileSync(path.join(out, 'model-card.json'), 'utf8'));
    expect(card.classes).toEqual(['ham', 'spam']);
    expect(card.preprocessing).toMatchObject({ kind: 'text', vocabulary: 'vocab.json' });
    const p = run(['predict', '--model', out, '--text', 'Subject: cheap meds, click here now to win money', '--text', 'see you at lunch', '--json']);
    expect(p.code).toBe(0);
    const preds = JSON.parse(p.stdout);
    expect(preds.map((x: { input: string }) => x.input)).toEqual(['"Subject: cheap meds, click here now t..."', '"see you at lunch"']);
    for (const pred of preds) {
      expect(pred.top.map((t: { label: string }) => t.label).sort()).toEqual(['ham', 'spam']);
      expect(pred.top[0].probability + pred.top[1].probability).toBeCloseTo(1, 5);
    }
  }, 300_000);

  test('progress: plain log lines when not on a terminal, a redrawn bar on one', () => {
    const lines: string[] = [];
    const plain = new Reporter({ write: (s: string) => lines.push(s) });
    for (let b = 1; b <= 40; b++) plain.progress({ epoch: 0, batch: b, batches: 40, loss: 1 / b, samplesPerSecond: 1000, etaSeconds: 40 - b });
    expect(lines.length).toBeGreaterThanOrEqual(10);
    expect(lines.length).toBeLessThanOrEqual(12);
    expect(lines.every((l) => l.endsWith('\n') && !l.includes('\r'))).toBe(true);
    expect(lines[lines.length - 1]).toMatch(/^epoch 1 40\/40 loss 0\.0250 · 1000 samples\/s · ETA 0s\n$/);
    const out: string[] = [];
    const tty = new Reporter({ write: (s: string) => out.push(s), isTTY: true, columns: 100 });
    tty.progress({ epoch: 1, batch: 5, batches: 10, loss: 0.5, samplesPerSecond: 640, etaSeconds: 75 });
    expect(out[0]).toMatch(/^\repoch 2  5\/10 \[#+\.+\] loss 0\.5000 · 640 samples\/s · ETA 1m15s/);
    tty.log('done');
    expect(out.slice(1).join('')).toBe('\r\x1b[Kdone\n');
  });
});

describe('tensorforge evaluate and predict', () => {
  test('evaluate reports the accuracy the card recorded and per-class metrics', () => {
    const r = run(['evaluate', '--model', imageModel, '--limit', '1500', '--json']);
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout);
    const card = JSON.parse(fs.readFileSync(path.join(imageModel, 'model-card.json'), 'utf8'));
    expect(res.accuracy).toBeCloseTo(card.metrics.test.accuracy, 10);
    expect(res.count).toBe(1500);
    expect(res.perClass).toHaveLength(10);
    for (const c of res.perClass) {
      expect(c.f1).toBeGreaterThanOrEqual(0);
      expect(c.f1).toBeLessThanOrEqual(1);
    }
    expect(res.perClass.reduce((n: number, c: { support: number }) => n + c.support, 0)).toBe(1500);
    const text = run(['evaluate', '--model', imageModel, '--limit', '1500']);
    expect(text.stdout).toMatch(/accuracy \d+\.\d\d%/);
    expect(text.stdout).toMatch(/Ankle boot\s+\d\.\d{3}\s+\d\.\d{3}\s+\d\.\d{3}\s+\d+/);
  });

  test('predict classifies PNG files of any size and IDX image files', () => {
    const set = tf.data.readMnistLike({ split: 'test', limit: 3 });
    const img = (i: number) => ({ width: 28, height: 28, pixels: set.pixels.subarray(i * 784, (i + 1) * 784) });
    fs.writeFileSync(path.join(tmp, 'a.png'), encodePng(img(0)));
    // a 56×56 copy: predict scales it down by area averaging, which gives back the 28×28 image
    const big = new Uint8Array(56 * 56).map((_, k) => img(1).pixels[Math.floor(Math.floor(k / 56) / 2) * 28 + Math.floor((k % 56) / 2)]);
    fs.writeFileSync(path.join(tmp, 'b.png'), encodePng({ width: 56, height: 56, pixels: big }));
    expect(Array.from(resizeGray(decodePng(fs.readFileSync(path.join(tmp, 'b.png'))), 28, 28).pixels)).toEqual(Array.from(img(1).pixels));
    tf.data.writeIdx(path.join(tmp, 'three.idx'), { shape: [3, 28, 28], data: set.pixels, type: 'uint8' });
    const r = run(['predict', '--model', imageModel, 'a.png', 'b.png', 'three.idx', '--top', '2', '--json']);
    expect(r.code).toBe(0);
    const preds = JSON.parse(r.stdout);
    expect(preds.map((p: { input: string }) => p.input)).toEqual(['a.png', 'b.png', 'three.idx[0]', 'three.idx[1]', 'three.idx[2]']);
    // a PNG and the same image inside an IDX file get the same answer
    expect(preds[0].top).toEqual(preds[2].top);
    expect(preds[1].top).toEqual(preds[3].top);
    for (const p of preds) {
      expect(p.top).toHaveLength(2);
      expect(p.top[0].probability).toBeGreaterThanOrEqual(p.top[1].probability);
      expect(tf.data.FASHION_MNIST_CLASSES).toContain(p.top[0].label);
    }
    const plain = run(['predict', '--model', imageModel, 'a.png']);
    expect(plain.stdout).toMatch(/^a\.png: [A-Za-z/ -]+ \d+\.\d%, [A-Za-z/ -]+ \d+\.\d%, [A-Za-z/ -]+ \d+\.\d%\n$/);
  });
});

describe('tensorforge info, bench and help', () => {
  test('info reports the version, the addon, CPU features, threads and CUDA', () => {
    const r = run(['info', '--json']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.version).toBe(tf.info().version);
    expect(info.addon).toMatch(/tensorforge\.node$/);
    expect(['avx512', 'avx2', 'scalar']).toContain(info.isa);
    expect(info.threads).toBeGreaterThan(0);
    expect(typeof info.cpuFeatures.avx2).toBe('boolean');
    expect(info.cuda.available).toBe(tf.cuda.isAvailable());
    expect(run(['info']).stdout).toMatch(/^tensorforge \d+\.\d+\.\d+\naddon/);
  });

  test('bench runs the harness', () => {
    const r = run(['bench', '--quick', '--filter', 'softmax', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.results.length).toBeGreaterThan(0);
    expect(report.results.every((x: { op: string; valid: boolean }) => x.op.includes('softmax') && x.valid)).toBe(true);
  }, 120_000);

  test('the bin the package declares is the built CLI, executable (npx runs it directly)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(path.resolve(root, pkg.bin.tensorforge)).toBe(cli);
    expect(() => fs.accessSync(cli, fs.constants.X_OK)).not.toThrow();
    expect(fs.readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  test('--help works for the program and every command', () => {
    const main = run(['--help']);
    expect(main.code).toBe(0);
    for (const c of ['train', 'evaluate', 'predict', 'bench', 'info']) {
      expect(main.stdout).toContain(`  ${c}`);
      const h = run([c, '--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(new RegExp(`^usage: tensorforge ${c}`));
    }
    const t = run(['train', '--help']).stdout;
    for (const flag of ['--model', '--data', '--epochs', '--batch-size', '--lr', '--optimizer', '--seed', '--device', '--out', '--json'])
      expect(t).toContain(flag);
    expect(run(['--version']).stdout.trim()).toBe(tf.info().version);
  });
});

describe('mistakes get one line and a non-zero exit', () => {
  test('bad commands and flags', () => {
    expectOneLineError(['fly'], /^tensorforge fly: error: unknown command 'fly'/);
    expectOneLineError(['train', '--epochz', '3'], /^tensorforge train: error: train: Unknown option '--epochz'/);
    expectOneLineError(['train', '--epochs', 'three'], /--epochs must be an integer, got 'three'/);
    expectOneLineError(['train', '--epochs', '0'], /--epochs must be in \[1, 10000\], got 0/);
    expectOneLineError(['train', '--lr=-1'], /--lr must be >= 0, got -1/);
    expectOneLineError(['train', '--model', 'resnet'], /--model must be one of cnn, mlp, transformer, got 'resnet'/);
    expectOneLineError(['train', '--batch-size'], /Option '--batch-size <value>' argument missing/);
    expectOneLineError(['bench', '--fast'], /^tensorforge bench: error: unknown argument '--fast'/);
    expectOneLineError(['info', 'extra'], /Unexpected argument 'extra'/);
  });

  test('missing and malformed data and model files', () => {
    expectOneLineError(['train', '--data', path.join(tmp, 'nowhere')], /--data: .*nowhere is not a directory/, 1);
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty, { recursive: true });
    expectOneLineError(['train', '--data', empty], /no train-images-idx\*-ubyte\[\.gz\] file/, 1);
    const broken = path.join(tmp, 'broken');
    fs.mkdirSync(broken, { recursive: true });
    const src = tf.data.embeddedFashionMnistDir();
    for (const f of fs.readdirSync(src).filter((n) => n.endsWith('.gz'))) fs.copyFileSync(path.join(src, f), path.join(broken, f));
    fs.writeFileSync(path.join(broken, 'train-images-idx3-ubyte.gz'), fs.readFileSync(path.join(src, 'train-images-idx3-ubyte.gz')).subarray(0, 5000));
    expectOneLineError(['train', '--data', broken], /train-images-idx3-ubyte\.gz/, 1);
    expectOneLineError(['evaluate', '--model', path.join(tmp, 'none')], /does not exist \(train a model first/, 1);
    fs.writeFileSync(path.join(tmp, 'junk.safetensors'), 'not a model at all, just text');
    expectOneLineError(['predict', '--model', path.join(tmp, 'junk.safetensors'), 'a.png'], /junk\.safetensors/, 1);
    fs.writeFileSync(path.join(tmp, 'bad.png'), Buffer.from('\x89PNG\r\n\x1a\nnonsense', 'latin1'));
    expectOneLineError(['predict', '--model', imageModel, 'bad.png'], /bad\.png: /, 1);
    expectOneLineError(['predict', '--model', imageModel, 'missing.png'], /ENOENT.*missing\.png/, 1);
    if (!tf.cuda.isAvailable()) expectOneLineError(['train', '--device', 'cuda'], /CUDA is not available/, 1);
  });
});

describe('the event loop during training', () => {
  test('a 50 ms timer is never late by more than 100 ms while the CNN trains', async () => {
    const flags = parseFlags('train', ['--model', 'cnn', '--epochs', '2', '--limit', '1500', '--out', path.join(tmp, 'loop')], trainFlags).flags;
    const lateness: number[] = [];
    let timer: NodeJS.Timeout | undefined;
    // the timer starts with the first training step (loading the data set comes before)
    class Watch extends Reporter {
      progress(): void {
        if (timer) return;
        let expected = performance.now() + 50;
        timer = setInterval(() => {
          const now = performance.now();
          lateness.push(now - expected);
          expected = now + 50;
        }, 50);
      }
    }
    try {
      await train(flags, new Watch({ write: () => true }));
    } finally {
      clearInterval(timer);
    }
    expect(lateness.length).toBeGreaterThan(10);  // training lasted long enough to mean something
    expect(Math.max(...lateness)).toBeLessThan(100);
  }, 120_000);
});
