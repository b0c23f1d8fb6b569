// Throws random malformed arguments at the CPU addon's functions (run in both its nested and its
// packed form). Every call must either
// succeed or throw an Error carrying a tensorforge code (or a TypeError for wrong JS types);
// a crash ends the process, which the calling test detects. Plain JS so it runs without ts-jest.
const path = require('path');
const addon = require('node-gyp-build')(path.join(__dirname, '..'));

const calls = Number(process.argv[2] || 2000);
let seed = Number(process.env.FUZZ_SEED || Date.now() % 1e9);
// 32-bit LCG in integer arithmetic (a float product this large loses bits and cycles early)
const rand = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296;
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

// The packed form of run(): the same views as numbers in a Float64Array, handles as arguments.
// Where a nested view set can be written in packed form (every field a number, shape and strides
// of one length), both forms must agree: both succeed, or both throw the same code and message.
const kernels = addon.kernelNames();
const live = addon.alloc(256);  // the first phase may have freed `good`; nothing here frees this
const packedCalls = calls;
let packedThrew = 0, compared = 0;
const mismatches = [];
const pack = (vs) => {
  const d = [];
  for (const v of vs) d.push(v[1], v[2], v[3].length, ...v[3], ...v[4]);
  return new Float64Array(d);
};
// each op's view count, read from the error a call without views gets
const arity = new Map(ops.slice(0, -1).map((op) => {
  try { addon.run(op, []); } catch (e) { const m = /expected (\d+) inputs and (\d+) outputs/.exec(e.message); if (m) return [op, +m[1] + +m[2]]; }
  throw new Error(`cannot read the arity of ${op}`);
}));
let callDType = 0;
const numericView = () => {
  const nd = Math.floor(rand() * (rand() < 0.7 ? 4 : 6));
  const dim = () => (rand() < 0.9 ? Math.floor(rand() * 6) : pick(numbers));
  return [rand() < 0.97 ? live : pick([freed, junk()]), rand() < 0.85 ? callDType : rand() < 0.5 ? Math.floor(rand() * 4) : pick(numbers),
    rand() < 0.85 ? Math.floor(rand() * 40) : pick(numbers), Array.from({ length: nd }, dim), Array.from({ length: nd }, dim)];
};
const outcome = (f) => {
  try { f(); return 'ok'; } catch (e) {
    if (!(e && (String(e.code).startsWith('ERR_TF_') || e instanceof TypeError))) untyped.push(String(e && e.message));
    return `${e && e.code}: ${e && e.message}`;
  }
};
const compiledAttrs = [addon.compileAttrs({ op: 'add' }), addon.compileAttrs({ op: 'exp' }), addon.compileAttrs({})];
for (let i = 0; i < packedCalls; i++) {
  const kind = Math.floor(rand() * 4);
  if (kind <= 1) {  // comparable: numeric views, plain attrs
    const op = pick(ops.slice(0, -1));
    callDType = Math.floor(rand() * 3);
    const vs = Array.from({ length: rand() < 0.9 ? arity.get(op) : Math.floor(rand() * 5) }, numericView);
    const at = attrs();
    const a = outcome(() => addon.run(op, vs, at));
    const b = outcome(() => addon.runPacked(kernels.indexOf(op), pack(vs), at, ...vs.map((v) => v[0])));
    compared++;
    if (b !== 'ok') packedThrew++;
    if (a !== b && mismatches.length < 5) mismatches.push({ op, nested: a, packed: b });
  } else if (kind === 2) {  // anything goes
    const desc = rand() < 0.8 ? new Float64Array(Array.from({ length: Math.floor(rand() * 30) }, () => (rand() < 0.8 ? Math.floor(rand() * 6) : pick(numbers))))
      : pick([junk(), new Float32Array(8), new Int32Array(8), [0, 0, 1, 4, 1]]);
    const handles = Array.from({ length: Math.floor(rand() * 6) }, () => (rand() < 0.7 ? live : pick([freed, junk(), pick(compiledAttrs)])));
    const at = rand() < 0.5 ? pick(compiledAttrs) : attrs();
    const k = rand() < 0.8 ? Math.floor(rand() * kernels.length) : pick([...numbers, junk()]);
    if (outcome(() => addon.runPacked(k, desc, at, ...handles)) !== 'ok') packedThrew++;
  } else {  // compileAttrs on anything
    outcome(() => addon.compileAttrs(rand() < 0.5 ? attrs() : junk()));
  }
}
addon.free(live);
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
    console.log(JSON.stringify({ seed, calls, threw, packedCalls, packedThrew, compared, mismatches, untyped: untyped.slice(0, 5), leakedBuffers }));
  });
});
