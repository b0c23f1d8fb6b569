// Throws random malformed arguments at the CPU addon's six functions. Every call must either
// succeed or throw an Error carrying a tensorforge code (or a TypeError for wrong JS types);
// a crash ends the process, which the calling test detects. Plain JS so it runs without ts-jest.
const path = require('path');
const addon = require('node-gyp-build')(path.join(__dirname, '..'));

const calls = Number(process.argv[2] || 2000);
let seed = Number(process.env.FUZZ_SEED || Date.now() % 1e9);
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const pick = (xs) => xs[Math.floor(rand() * xs.length)];

const good = addon.alloc(256);
const freed = addon.alloc(16);
addon.free(freed);
const numbers = [0, 1, 2, 3, 7, -1, -5, 0.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 53, 2 ** 60, 1e300, 64, 255, 256];
const junk = () => pick([undefined, null, true, 'x', {}, [], () => 0, Symbol('s'), 10n, new Float32Array(3), good, freed, pick(numbers)]);
const intList = () => Array.from({ length: Math.floor(rand() * 10) }, () => (rand() < 0.8 ? Math.floor(rand() * 6) : junk()));
const view = () =>
  rand() < 0.2
    ? junk()
    : [rand() < 0.85 ? good : junk(), rand() < 0.8 ? Math.floor(rand() * 4) : junk(), rand() < 0.8 ? Math.floor(rand() * 40) : junk(), intList(), intList()];
const ops = ['unary', 'binary', 'where', 'copy', 'fill', 'reduce', 'matmul', 'gather', 'scatterAdd', 'indexSelect', 'indexAdd', 'random', 'nope'];
const attrs = () =>
  rand() < 0.2 ? junk() : { op: pick(['exp', 'add', 'sum', 'argmax', 'eq', 'bogus', 3]), dim: pick(numbers), reduceDims: pick(numbers), value: pick(numbers),
    dist: pick(['uniform', 'normal', 'randint', 'x']), seed: pick(numbers), offset: pick(numbers), a: pick(numbers), b: pick(numbers) };

const untyped = [];
let threw = 0;
for (let i = 0; i < calls; i++) {
  const kind = Math.floor(rand() * 6);
  try {
    if (kind === 0) addon.run(pick(ops), Array.from({ length: Math.floor(rand() * 5) }, view), attrs());
    else if (kind === 1) addon.alloc(pick([...numbers, junk()]));
    else if (kind === 2) addon.read(rand() < 0.7 ? good : junk(), pick(numbers), rand() < 0.7 ? new Float32Array(Math.floor(rand() * 100)) : junk());
    else if (kind === 3) addon.write(rand() < 0.7 ? good : junk(), pick(numbers), rand() < 0.7 ? new Int32Array(Math.floor(rand() * 100)) : junk());
    else if (kind === 4) addon.free(rand() < 0.5 ? freed : junk());
    else addon.setNumThreads(pick([...numbers.filter((n) => n < 4), junk()]));
  } catch (e) {
    threw++;
    if (!(e && (String(e.code).startsWith('ERR_TF_') || e instanceof TypeError))) untyped.push(String(e && e.message));
  }
}
addon.setNumThreads(0);
// Buffers that successful alloc() calls returned are garbage now: after a GC their finalizers
// must have freed them all, leaving at most `good`.
global.gc();
setImmediate(() => {
  global.gc();
  setImmediate(() => {
    let goodAlive = 1;  // a fuzzed free() may have hit it
    try { addon.read(good, 0, new Uint8Array(1)); } catch { goodAlive = 0; }
    const leakedBuffers = addon.memory().buffers - goodAlive;
    console.log(JSON.stringify({ seed, calls, threw, untyped: untyped.slice(0, 5), leakedBuffers }));
  });
});
