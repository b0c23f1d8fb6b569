#!/usr/bin/env node
// Builds the native addons with cmake-js into build/Release:
//   build/Release/tensorforge.node            the CPU addon (always)
//   build/Release/cuda/tensorforge_cuda.node  the CUDA addon (where nvcc is found)
// Environment:
//   TENSORFORGE_CUDA=OFF            skip the CUDA addon even where nvcc exists
//   TENSORFORGE_CUDA_ARCHS=90       narrow the SM list (comma or semicolon separated; default 75..90)
//   TENSORFORGE_BUILD_JOBS=N        parallel jobs (default: all cores)
// Flag: --clean (rebuild from scratch).
// N-API only: cmake-js takes Node's headers from the node-api-headers package (package.json's
// "binary.napi_versions" tells it so), so nothing is downloaded.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const packageRoot = path.resolve(__dirname, '..');

function isOff(v) {
  return /^(0|off|false|no)$/i.test(String(v || '').trim());
}

function options(env = process.env) {
  const cudaEnv = env.TENSORFORGE_CUDA;
  const archs = String(env.TENSORFORGE_CUDA_ARCHS || '').trim().replace(/[\s,]+/g, ';').replace(/^;|;$/g, '');
  if (archs && !/^\d+[a-z]?(;\d+[a-z]?)*$/.test(archs)) {
    throw new Error(`TENSORFORGE_CUDA_ARCHS="${env.TENSORFORGE_CUDA_ARCHS}" is not a list of SM numbers such as "90" or "80,90"`);
  }
  const jobs = Number(env.TENSORFORGE_BUILD_JOBS) > 0 ? Math.floor(Number(env.TENSORFORGE_BUILD_JOBS)) : os.cpus().length || 1;
  // Every option is passed on every configure, so a value left in CMakeCache.txt by an earlier
  // build (say TENSORFORGE_CUDA=OFF or a narrowed arch list) never leaks into this one.
  return { cuda: !isOff(cudaEnv), archs, jobs };
}

async function build({ cuda, archs, jobs, clean = false } = options()) {
  let cmakeJs;
  try {
    cmakeJs = require('cmake-js');
  } catch (e) {
    throw new Error(`cmake-js is not installed (${e.message}); run "npm install" first`);
  }
  const { BuildSystem } = cmakeJs;
  process.env.CMAKE_BUILD_PARALLEL_LEVEL = String(jobs);
  const system = new BuildSystem({
    directory: packageRoot,
    out: path.join(packageRoot, 'build'),
    config: 'Release',
    parallel: jobs,
    cMakeOptions: { TENSORFORGE_CUDA: cuda ? 'ON' : 'OFF', TENSORFORGE_CUDA_ARCHS: archs },
  });
  if (!system.options.isNodeApi) {
    throw new Error('package.json lacks "binary": {"napi_versions": [...]}; cmake-js would download Node headers');
  }
  try {
    await run(system, cuda, clean);
  } catch (e) {
    // cmake-js says only "Process terminated: 2"; the compiler's own output is above it.
    const m = /Process terminated: (\S+)/.exec(String(e && e.message));
    throw m ? new Error(`cmake exited with status ${m[1]} (its output is above)`) : e;
  }
  const cpu = path.join(packageRoot, 'build', 'Release', 'tensorforge.node');
  const gpu = path.join(packageRoot, 'build', 'Release', 'cuda', 'tensorforge_cuda.node');
  if (!fs.existsSync(cpu)) throw new Error(`the build finished but ${path.relative(packageRoot, cpu)} is missing`);
  return { cpu, cuda: fs.existsSync(gpu) ? gpu : null };
}

async function run(system, cuda, clean) {
  if (clean) await system.clean();
  // configure runs every time so the options above take effect; cmake-js's build alone would
  // reuse an existing cache. CMake's own dependency tracking keeps the rebuild incremental.
  await system.configure();
  // A CUDA addon left by an earlier build must not outlive a build that skips CUDA.
  if (!cuda) fs.rmSync(path.join(packageRoot, 'build', 'Release', 'cuda'), { recursive: true, force: true });
  await system.build();
}

function fail(err) {
  console.error(`\ntensorforge: native build failed: ${err && err.message ? err.message : err}`);
  console.error('  needs: cmake >= 3.18 and a C++17 compiler (g++ or clang++) on PATH;');
  console.error('  CUDA addon (optional): nvcc from the CUDA toolkit >= 12; set TENSORFORGE_CUDA=OFF to skip it.');
  process.exitCode = 1;
}

module.exports = { build, options, packageRoot };

if (require.main === module) {
  const argv = process.argv.slice(2);
  const started = Date.now();
  let opts;
  try {
    opts = options();
  } catch (e) {
    fail(e);
    return;
  }
  const what = opts.cuda ? `CPU + CUDA (if nvcc is found${opts.archs ? `, sm ${opts.archs}` : ''})` : 'CPU only';
  console.log(`tensorforge: building native addons: ${what}, ${opts.jobs} jobs`);
  build({ ...opts, clean: argv.includes('--clean') }).then(
    (out) => {
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      console.log(`tensorforge: built ${path.relative(packageRoot, out.cpu)}` +
        (out.cuda ? ` and ${path.relative(packageRoot, out.cuda)}` : ' (no CUDA addon)') + ` in ${secs}s`);
    },
    fail,
  );
}
