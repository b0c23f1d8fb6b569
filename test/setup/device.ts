// Runs before every test file (jest setupFiles).
//   TF_EMULATE_CUDA=1   the CPU addon stands in for the CUDA one (a second backend named 'cuda'),
//                       so the device layer and the CUDA test files' own logic can run without a GPU
// In the 'cuda' project (jest.config.js sets the global TF_DEFAULT_DEVICE), creation ops default to
// CUDA, so the whole suite runs on the CUDA kernels.
import * as native from '../../ts/native';
import { makeBackend, setCudaBackendForTesting, setDefaultDevice } from '../../ts/backend';

if (process.env.TF_EMULATE_CUDA === '1') setCudaBackendForTesting(makeBackend('cuda', native.addon));
if ((globalThis as { TF_DEFAULT_DEVICE?: string }).TF_DEFAULT_DEVICE === 'cuda') setDefaultDevice('cuda');
