#!/usr/bin/env node
// Builds the Fashion-MNIST subset shipped in data/fashion-mnist/: a seeded, class-balanced sample
// of the full dataset (1000 training and 200 test images per class), written as gzipped IDX.
// Usage: npm run build:ts && node scripts/make-embedded-data.js [sourceDir]
// sourceDir defaults to where Debian's dataset-fashion-mnist package puts the files.
'use strict';
const fs = require('fs');
const path = require('path');
const { readIdx, writeIdx } = require('../dist/ts/data/idx');

const SEED = 20171025;  // Fashion-MNIST's release date; any fixed value keeps the subset reproducible
const PER_CLASS = { train: 1000, test: 200 };
const CLASSES = 10;
const source = process.argv[2] || '/usr/share/datasets/fashion-mnist';
const target = path.join(__dirname, '..', 'data', 'fashion-mnist');

// mulberry32: small, seedable, and the same on every platform
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function shuffle(a, next) {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
function find(prefix, kind) {
  for (const name of [`${prefix}-${kind}`, `${prefix}-${kind}.gz`]) {
    const p = path.join(source, name);
    if (fs.existsSync(p)) return p;
  }
  throw new Error(`no ${prefix}-${kind}(.gz) in ${source}`);
}

fs.mkdirSync(target, { recursive: true });
const next = rng(SEED);
for (const [split, prefix] of [['train', 'train'], ['test', 't10k']]) {
  const images = readIdx(find(prefix, 'images-idx3-ubyte'));
  const labels = readIdx(find(prefix, 'labels-idx1-ubyte'));
  const [n, h, w] = images.shape;
  if (images.type !== 'uint8' || labels.type !== 'uint8' || labels.shape[0] !== n) throw new Error(`${split}: unexpected IDX layout`);
  const byClass = Array.from({ length: CLASSES }, () => []);
  for (let i = 0; i < n; i++) byClass[labels.data[i]].push(i);
  // the first PER_CLASS of each class after a seeded shuffle, then all picks shuffled together so
  // the file is not sorted by class
  const picked = shuffle(byClass.flatMap((idx) => shuffle(idx, next).slice(0, PER_CLASS[split])), next);
  const outImages = new Uint8Array(picked.length * h * w);
  const outLabels = new Uint8Array(picked.length);
  picked.forEach((src, i) => {
    outImages.set(images.data.subarray(src * h * w, (src + 1) * h * w), i * h * w);
    outLabels[i] = labels.data[src];
  });
  const files = [
    [`${prefix}-images-idx3-ubyte.gz`, { shape: [picked.length, h, w], data: outImages }],
    [`${prefix}-labels-idx1-ubyte.gz`, { shape: [picked.length], data: outLabels }],
  ];
  for (const [name, arr] of files) {
    writeIdx(path.join(target, name), arr);
    console.log(`${name}: ${arr.shape.join('x')}, ${fs.statSync(path.join(target, name)).size} bytes`);
  }
}
