#!/usr/bin/env node
// A `solc` executable for forge, served by solc-js: forge cannot download a native solc offline.
// It answers `--version` and `--standard-json` (JSON on stdin, JSON on stdout), which is all forge asks.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require(path.join(__dirname, '..', 'node_modules', 'solc'));

const args = process.argv.slice(2);
if (args.includes('--version')) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}
if (!args.includes('--standard-json')) {
  process.stderr.write('solc-adapter: only --version and --standard-json are supported\n');
  process.exit(2);
}
const bases = [process.cwd()];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--base-path' || args[i] === '--include-path' || args[i] === '--allow-paths') {
    for (const p of String(args[i + 1] || '').split(',')) if (p) bases.push(p);
  }
}
function findImports(importPath) {
  const candidates = path.isAbsolute(importPath) ? [importPath] : bases.map((b) => path.join(b, importPath));
  for (const c of candidates) {
    if (fs.existsSync(c)) return { contents: fs.readFileSync(c, 'utf8') };
  }
  return { error: `File not found: ${importPath}` };
}
const input = fs.readFileSync(0, 'utf8');
process.stdout.write(solc.compile(input, { import: findImports }));
