#!/usr/bin/env node
// `npm run build:prebuilds`: makes prebuilds/<platform>-<arch>/ for the published package (the
// script is not named "prebuild": npm would run that before every `npm run build`):
//   tensorforge.node                 the CPU addon (N-API, stripped)
//   cuda/tensorforge_cuda.node       the CUDA addon, where nvcc was found (stripped)
// prebuildify has no cmake-js backend, so it is run with `--node-gyp <this file>`: it then calls
// this file as `prebuild.js rebuild --target=… --arch=… --release`, and this file, seeing
// "rebuild", does a clean cmake-js build into build/Release (the N-API target version is moot).
// prebuildify moves build/Release/tensorforge.node into prebuilds/ and, via
// `--artifacts build/Release`, copies the rest of build/Release (the cuda/ folder) beside it.
// Finally the result is loaded in a child process with PREBUILDS_ONLY=1 to prove it works.
// Environment: as scripts/build-native.js (TENSORFORGE_CUDA, TENSORFORGE_CUDA_ARCHS, …).
'use strict';

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const packageRoot = path.resolve(__dirname, '..');
const tuple = `${process.env.PREBUILD_PLATFORM || process.platform}-${process.env.PREBUILD_ARCH || process.arch}`;
const prebuildDir = path.join(packageRoot, 'prebuilds', tuple);

// ---- called by prebuildify in place of node-gyp ---------------------------------------------
async function rebuild() {
  const { build, options } = require('./build-native.js');
  const out = await build({ ...options(), clean: true });
  // prebuildify strips only the addon it moves; strip the CUDA one here the same way.
  if (out.cuda && process.env.PREBUILD_STRIP === '1' && process.platform === 'linux') {
    const r = spawnSync(process.env.PREBUILD_STRIP_BIN || 'strip', ['--strip-all', out.cuda], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`strip ${out.cuda} failed`);
  }
}

// ---- npm run prebuild -----------------------------------------------------------------------
function prebuild() {
  fs.chmodSync(__filename, 0o755); // prebuildify executes this file directly
  fs.rmSync(prebuildDir, { recursive: true, force: true }); // no stale addon may survive
  const bin = require.resolve('prebuildify/bin.js');
  const args = [bin, '--napi', '--strip', '--node-gyp', __filename, '--artifacts', 'build/Release'];
  console.log(`tensorforge: prebuildify ${args.slice(1).join(' ')}`);
  const r = spawnSync(process.execPath, args, { cwd: packageRoot, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`prebuildify exited with ${r.status === null ? r.signal : r.status}`);
  verify();
}

function verify() {
  const check = `
    const path = require('path');
    const file = require('node-gyp-build').path(${JSON.stringify(packageRoot)});
    require(file);
    const cudaFile = path.join(${JSON.stringify(prebuildDir)}, 'cuda', 'tensorforge_cuda.node');
    let cuda = 'not built';
    if (require('fs').existsSync(cudaFile)) cuda = 'loads, deviceCount() = ' + require(cudaFile).deviceCount();
    console.log(JSON.stringify({ file, cuda }));`;
  const r = spawnSync(process.execPath, ['-e', check], {
    cwd: packageRoot,
    env: { ...process.env, PREBUILDS_ONLY: '1' },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`the prebuild does not load:\n${r.stderr || r.stdout}`);
  const { file, cuda } = JSON.parse(r.stdout.trim().split('\n').pop());
  const files = [];
  (function walk(dir) {
    for (const f of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, f.name);
      if (f.isDirectory()) walk(p);
      else files.push(`${path.relative(packageRoot, p)} (${(fs.statSync(p).size / 1048576).toFixed(1)} MiB)`);
    }
  })(prebuildDir);
  console.log(`tensorforge: prebuilds ready:\n  ${files.join('\n  ')}`);
  console.log(`  CPU addon loads from ${path.relative(packageRoot, file)}; CUDA addon: ${cuda}`);
}

function main() {
  if (process.argv[2] === 'rebuild') return rebuild();
  return prebuild();
}

Promise.resolve()
  .then(main)
  .catch((e) => {
    console.error(`\ntensorforge: prebuild failed: ${(e && e.message) || e}`);
    process.exit(1);
  });
