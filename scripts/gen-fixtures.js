#!/usr/bin/env node
// Regenerates the PyTorch fixtures: runs every scripts/fixtures/<family>.py, each of which writes
// test/fixtures/<family>.json (safetensors.py also writes the small model files it describes,
// test/fixtures/safetensors/*.safetensors). Needs PyTorch (Debian: apt-get install python3-torch); CI does not
// run this, it uses the committed JSON files.
//   npm run fixtures [-- <family> ...]
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const dir = path.join(__dirname, 'fixtures');
const python = process.env.PYTHON || '/usr/bin/python3';
const wanted = process.argv.slice(2);
const scripts = fs.readdirSync(dir).filter((f) => f.endsWith('.py') && !f.startsWith('_'))
  .filter((f) => wanted.length === 0 || wanted.includes(path.basename(f, '.py')));
for (const f of scripts) {
  process.stdout.write(`${f}: `);
  execFileSync(python, [path.join(dir, f)], { stdio: 'inherit', cwd: path.join(__dirname, '..') });
  console.log('ok');
}
