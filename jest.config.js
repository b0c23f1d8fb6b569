// Projects: 'cpu' always; 'cuda' (the same suite with CUDA as the default device) where a GPU is
// found, or when TF_TEST_DEVICE=cuda asks for it alone. TF_TEST_DEVICE=cpu runs only the CPU one.
// TF_EMULATE_CUDA=1 lets the CPU addon stand in for a GPU (see test/setup/device.ts).
const fs = require('fs');
const path = require('path');

function gpuFound() {
  const file = [
    path.join(__dirname, 'build', 'Release', 'cuda', 'tensorforge_cuda.node'),
    path.join(__dirname, 'prebuilds', `${process.platform}-${process.arch}`, 'cuda', 'tensorforge_cuda.node'),
  ].find((f) => fs.existsSync(f));
  try {
    return !!file && require(file).deviceCount() > 0;
  } catch {
    return false;
  }
}

const base = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  setupFiles: ['<rootDir>/test/setup/device.ts'],
};
const want = process.env.TF_TEST_DEVICE;
const projects = [];
if (want !== 'cuda') projects.push({ ...base, displayName: 'cpu' });
if (want === 'cuda' || (want === undefined && gpuFound())) {
  projects.push({
    ...base,
    displayName: 'cuda',
    globals: { TF_DEFAULT_DEVICE: 'cuda' },  // read by test/setup/device.ts
    moduleNameMapper: { '^\\.\\./ts/native$': '<rootDir>/test/setup/native-device.ts' },
  });
}
module.exports = { projects, testTimeout: 120000 };
