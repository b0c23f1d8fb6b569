#!/usr/bin/env node
// The package's npm "install" script. If node-gyp-build can already load an addon for this
// platform (prebuilds/<platform>-<arch>/ from the published package, or an earlier build/Release),
// there is nothing to do; otherwise build from source with scripts/build-native.js (cmake-js).
// Runs in a fresh clone (after npm has installed the dependencies) and inside
// node_modules/tensorforge when installed as a dependency; both have cmake-js and node-gyp-build.
// Force a source build with `npm install --build-from-source` or TENSORFORGE_BUILD_FROM_SOURCE=1.
'use strict';

const { spawnSync } = require('child_process');
const path = require('path');

const packageRoot = path.resolve(__dirname, '..');

function truthy(v) {
  return v !== undefined && v !== '' && !/^(0|false|off|no)$/i.test(String(v));
}

// Loads the addon node-gyp-build picks, in a child process so that an addon which crashes or
// hangs at load time is reported instead of taking npm down with it. Loading proves more than
// existing does: right platform and libc, not truncated, exports registered.
function loadableAddon() {
  let file;
  try {
    file = require('node-gyp-build').path(packageRoot);
  } catch (e) {
    return { why: String((e && e.message) || e).split('\n')[0].trim() };
  }
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { encoding: 'utf8', timeout: 60000 });
  if (r.status === 0) return { file };
  const detail = (r.stderr || '').split('\n').find((l) => /Error|error:/.test(l)) || `exit ${r.status === null ? r.signal : r.status}`;
  return { why: `${path.relative(packageRoot, file)} does not load: ${detail.trim()}` };
}

async function main() {
  const forced = truthy(process.env.TENSORFORGE_BUILD_FROM_SOURCE) || truthy(process.env.npm_config_build_from_source);
  if (!forced) {
    const found = loadableAddon();
    if (found.file) {
      console.log(`tensorforge: using ${path.relative(packageRoot, found.file)}`);
      return;
    }
    console.log(`tensorforge: no loadable prebuilt addon (${found.why}); building from source`);
  }
  const { build, options } = require('./build-native.js');
  const opts = options();
  const started = Date.now();
  let out;
  try {
    out = await build(opts);
  } catch (e) {
    // The CUDA addon is optional: a CUDA toolchain that cannot build it must not cost the user
    // the CPU addon. Retry without it, unless CUDA was asked for by name.
    if (!opts.cuda || process.env.TENSORFORGE_CUDA) throw e;
    console.warn(`tensorforge: build with CUDA failed (${e.message}); retrying with TENSORFORGE_CUDA=OFF`);
    out = await build({ ...opts, cuda: false });
  }
  const check = loadableAddon();
  if (!check.file) throw new Error(`the build finished, but ${check.why}`);
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`tensorforge: built ${path.relative(packageRoot, out.cpu)}` +
    (out.cuda ? ` and ${path.relative(packageRoot, out.cuda)}` : ' (CPU only)') + ` in ${secs}s`);
}

main().catch((e) => {
  const message = String((e && e.message) || e);
  console.error(`\ntensorforge: install failed: ${message}`);
  if (!message.startsWith('the build finished')) {
    console.error('  building from source needs cmake >= 3.18 and a C++17 compiler on PATH');
    console.error('  (and, for the optional CUDA addon, nvcc; TENSORFORGE_CUDA=OFF skips it).');
  }
  process.exit(1);
});
