// Runs before every test file (jest setupFiles).
//   TF_EMULATE_CUDA=1   the CPU addon stands in for the CUDA one (a second backend named 'cuda'),
//                       so the device layer and the CUDA test files' own logic can run without a GPU
//   TF_EMULATE_CUDA=kernels  the 'cuda' backend is the emulated CUDA addon (build/emu, made by
//                       scripts/cuda-emu/build.sh): the real CUDA kernels' code run on host fibers,
//                       checking their logic (not speed or races); sets TF_CUDA_EMULATED=1 so tests
//                       can pick smaller sizes
// In the 'cuda' project (jest.config.js sets the global TF_DEFAULT_DEVICE), creation ops default to
// CUDA, so the whole suite runs on the CUDA kernels.
import * as fs from 'fs';
import * as path from 'path';
import * as native from '../../ts/native';
import { makeBackend, setCudaBackendForTesting, setDefaultDevice } from '../../ts/backend';
import { setAddonForTesting } from '../../ts/cuda';

if (process.env.TF_EMULATE_CUDA === '1') setCudaBackendForTesting(makeBackend('cuda', native.addon));
if (process.env.TF_EMULATE_CUDA === 'kernels') {
  const emulated = path.join(__dirname, '..', '..', 'build', 'emu', 'tensorforge_cuda.node');
  if (!fs.existsSync(emulated)) throw new Error(`TF_EMULATE_CUDA=kernels needs ${emulated}: run scripts/cuda-emu/build.sh`);
  process.env.TF_CUDA_EMULATED = '1';
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const addon = require(emulated);
  setAddonForTesting(addon, emulated);  // tf.cuda.synchronize/memory/isAvailable see it too
  setCudaBackendForTesting(makeBackend('cuda', addon));
}
if ((globalThis as { TF_DEFAULT_DEVICE?: string }).TF_DEFAULT_DEVICE === 'cuda') setDefaultDevice('cuda');
