// One binary serves AVX-512, AVX2 and plain x86-64 machines: TENSORFORGE_ISA caps the runtime
// dispatch, so each matmul path is checked here on this machine against a float64 product.
import { spawnSync } from 'child_process';
import * as path from 'path';

const entry = path.join(__dirname, '..', 'dist', 'ts', 'index.js');
const code = `
  const tf = require(${JSON.stringify(entry)});
  tf.manualSeed(7);
  let worst = 0;
  for (const [m, n, k, ta, tb] of [[1,1,1,0,0],[37,53,71,0,0],[64,128,784,1,0],[130,70,300,0,1],[200,190,260,1,1]]) {
    const a = ta ? tf.randn([k, m]).T : tf.randn([m, k]);
    const b = tb ? tf.randn([n, k]).T : tf.randn([k, n]);
    const c = a.matmul(b).dataSync();
    const A = a.contiguous().dataSync(), B = b.contiguous().dataSync();
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0; for (let p = 0; p < k; p++) s += A[i * k + p] * B[p * n + j];
      worst = Math.max(worst, Math.abs(c[i * n + j] - s) / (Math.sqrt(k) * (1 + Math.abs(s))));
    }
  }
  console.log(JSON.stringify({ isa: tf.info().isa, worst }));`;

const supported = (() => {
  const r = spawnSync(process.execPath, ['-e', `console.log(require(${JSON.stringify(entry)}).info().isa)`], { encoding: 'utf8' });
  return r.stdout.trim();
})();
const order = ['scalar', 'avx2', 'avx512'];

test.each(order)('matmul on the %s path matches float64', (isa) => {
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: { ...process.env, TENSORFORGE_ISA: isa } });
  expect(r.stderr).toBe('');
  const out = JSON.parse(r.stdout);
  // the cap can only lower the choice: a machine without AVX-512 runs avx2 when asked for it
  const expected = order[Math.min(order.indexOf(isa), order.indexOf(supported))];
  expect(out.isa).toBe(expected);
  expect(out.worst).toBeLessThan(2e-6);
});
