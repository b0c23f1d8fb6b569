// Packaging: scripts/install.js must be a no-op wherever an addon already loads (a published
// package with prebuilds/, or a clone that was built), must fall back to a cmake-js build where
// none does, and node-gyp-build must find the addon this checkout built.
// Scratch packages under the OS temp dir stand in for "installed as a dependency"; a fake `cmake`
// first on PATH records whether the build was attempted.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const nodeModules = path.join(root, 'node_modules');
const tuple = `${process.platform}-${process.arch}`;

jest.setTimeout(60_000);

function loads(file: string): boolean {
  return spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`]).status === 0;
}

/** Any N-API addon of this checkout that loads, to stand in for the CPU addon in scratch packages. */
function loadableAddon(): string | null {
  const candidates = [
    path.join(root, 'build', 'Release', 'tensorforge.node'),
    path.join(root, 'prebuilds', tuple, 'tensorforge.node'),
    path.join(root, 'build', 'Release', 'cuda', 'tensorforge_cuda.node'),
    path.join(root, 'prebuilds', tuple, 'cuda', 'tensorforge_cuda.node'),
  ];
  return candidates.find((f) => fs.existsSync(f) && loads(f)) ?? null;
}

let scratch: string;
let fakeBin: string;
let cmakeLog: string;

beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-packaging-'));
  fakeBin = path.join(scratch, 'bin');
  cmakeLog = path.join(scratch, 'cmake-calls.log');
  fs.mkdirSync(fakeBin);
  fs.writeFileSync(path.join(fakeBin, 'cmake'), `#!/bin/sh\necho "cmake $*" >> '${cmakeLog}'\nexit 1\n`, { mode: 0o755 });
});

afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

beforeEach(() => fs.rmSync(cmakeLog, { force: true }));

/** A minimal copy of the package: package.json, the install scripts, and what `setup` adds. */
function makePackage(name: string, setup: (dir: string) => void): string {
  const dir = path.join(scratch, name);
  fs.mkdirSync(path.join(dir, 'scripts'), { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'tensorforge', version: '0.0.0', binary: { napi_versions: [8] } }),
  );
  fs.writeFileSync(path.join(dir, 'CMakeLists.txt'), 'cmake_minimum_required(VERSION 3.18)\nproject(x)\n');
  for (const f of ['install.js', 'build-native.js']) {
    fs.copyFileSync(path.join(root, 'scripts', f), path.join(dir, 'scripts', f));
  }
  setup(dir);
  return dir;
}

function runInstall(dir: string, env: Record<string, string> = {}) {
  const started = Date.now();
  const r = spawnSync(process.execPath, [path.join(dir, 'scripts', 'install.js')], {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      PATH: `${fakeBin}${path.delimiter}${process.env.PATH}`,
      NODE_PATH: nodeModules, // node-gyp-build and cmake-js, as npm would provide them
      TENSORFORGE_BUILD_FROM_SOURCE: '',
      npm_config_build_from_source: '',
      ...env,
    },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, ms: Date.now() - started, cmakeRan: fs.existsSync(cmakeLog) };
}

const addon = loadableAddon();
const withAddon = addon ? test : test.skip;

describe('scripts/install.js', () => {
  withAddon('is a no-op when build/Release holds a loadable addon', () => {
    const dir = makePackage('built', (d) => {
      fs.mkdirSync(path.join(d, 'build', 'Release'), { recursive: true });
      fs.copyFileSync(addon!, path.join(d, 'build', 'Release', 'tensorforge.node'));
    });
    const r = runInstall(dir);
    expect(r.status).toBe(0);
    expect(r.cmakeRan).toBe(false);
    expect(r.out).toContain('using build/Release/tensorforge.node');
    expect(r.ms).toBeLessThan(5000);
  });

  withAddon('is a no-op when prebuilds/<platform>-<arch>/ holds a loadable addon (cuda/ beside it)', () => {
    const dir = makePackage('published', (d) => {
      const pb = path.join(d, 'prebuilds', tuple);
      fs.mkdirSync(path.join(pb, 'cuda'), { recursive: true });
      fs.copyFileSync(addon!, path.join(pb, 'tensorforge.node'));
      fs.copyFileSync(addon!, path.join(pb, 'cuda', 'tensorforge_cuda.node'));
    });
    const r = runInstall(dir);
    expect(r.status).toBe(0);
    expect(r.cmakeRan).toBe(false);
    expect(r.out).toContain(path.join('prebuilds', tuple, 'tensorforge.node'));
  });

  test('builds from source with cmake-js when no addon loads, and fails clearly if that fails', () => {
    const dir = makePackage('bare', (d) => {
      // A file that is not an addon must not count as one.
      fs.mkdirSync(path.join(d, 'prebuilds', tuple), { recursive: true });
      fs.writeFileSync(path.join(d, 'prebuilds', tuple, 'tensorforge.node'), 'not an ELF file');
    });
    const r = runInstall(dir);
    expect(r.cmakeRan).toBe(true);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/building from source/);
    expect(r.out).toMatch(/tensorforge: install failed: .+/);
    expect(fs.readFileSync(cmakeLog, 'utf8')).toContain('-DTENSORFORGE_CUDA=');
  });

  withAddon('builds from source when asked to, even though an addon loads', () => {
    const dir = makePackage('forced', (d) => {
      fs.mkdirSync(path.join(d, 'build', 'Release'), { recursive: true });
      fs.copyFileSync(addon!, path.join(d, 'build', 'Release', 'tensorforge.node'));
    });
    const r = runInstall(dir, { TENSORFORGE_BUILD_FROM_SOURCE: '1', TENSORFORGE_CUDA: 'OFF' });
    expect(r.cmakeRan).toBe(true);
    expect(r.status).toBe(1);
    expect(fs.readFileSync(cmakeLog, 'utf8')).toContain('-DTENSORFORGE_CUDA=OFF');
  });
});

describe('this checkout', () => {
  test('node-gyp-build finds and loads the CPU addon', () => {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const file: string = require('node-gyp-build').path(root);
    expect(file).toMatch(/tensorforge\.node$/);
    expect(fs.existsSync(file)).toBe(true);
    expect(loads(file)).toBe(true);
  });

  test('npm install (scripts/install.js) is a no-op here: exits 0 quickly, runs no cmake', () => {
    // Without a loadable addon install.js would (rightly) start a build; don't let it touch build/.
    expect(loads(require('node-gyp-build').path(root))).toBe(true);
    const r = runInstall(root);
    expect(r.out).toMatch(/tensorforge: using /);
    expect(r.status).toBe(0);
    expect(r.cmakeRan).toBe(false);
    expect(r.ms).toBeLessThan(5000);
  });

  test('package.json wires the scripts and needs no Node header download', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(pkg.scripts.install).toBe('node scripts/install.js');
    expect(pkg.binary.napi_versions).toContain(8); // makes cmake-js use node-api-headers
    for (const dep of ['cmake-js', 'node-addon-api', 'node-gyp-build']) expect(pkg.dependencies[dep]).toBeDefined();
    for (const f of ['scripts/install.js', 'scripts/build-native.js', 'prebuilds', 'CMakeLists.txt', 'native', 'cuda']) {
      expect(pkg.files).toContain(f);
    }
  });
});
