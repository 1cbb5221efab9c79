#!/usr/bin/env node
// Compiles contracts/*.sol with solc-js into build/contracts/<Name>.json (abi, bytecode) for Python.
// Skips the work when no source changed since the last build (a digest of every input is kept).
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const root = path.join(__dirname, '..');
const solc = require(path.join(root, 'node_modules', 'solc'));

const srcDir = path.join(root, 'contracts');
const outDir = path.join(root, 'build', 'contracts');
const sources = {};
for (const f of fs.readdirSync(srcDir).sort()) {
  if (f.endsWith('.sol')) sources[`contracts/${f}`] = { content: fs.readFileSync(path.join(srcDir, f), 'utf8') };
}
// Test contracts that Python tests deploy (an EIP-1271 wallet), written to build/contracts/test/.
const testContracts = ['contracts/test/utils/MockWallet.sol'];
for (const f of testContracts) sources[f] = { content: fs.readFileSync(path.join(root, f), 'utf8') };
const settings = {
  optimizer: { enabled: true, runs: 200 },
  viaIR: true,
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
};
const input = { language: 'Solidity', sources, settings };
const digest = crypto.createHash('sha256').update(solc.version()).update(JSON.stringify(input)).digest('hex');
const stamp = path.join(outDir, '.digest');
if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === digest) {
  console.log('contracts up to date');
  process.exit(0);
}
function findImports(p) {
  for (const base of [root, path.join(root, 'node_modules')]) {
    const full = path.join(base, p);
    if (fs.existsSync(full)) return { contents: fs.readFileSync(full, 'utf8') };
  }
  return { error: `File not found: ${p}` };
}
const t0 = Date.now();
const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (out.errors || []).filter((e) => e.severity === 'error');
for (const e of out.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);
fs.mkdirSync(path.join(outDir, 'test'), { recursive: true });
let n = 0;
for (const [file, contracts] of Object.entries(out.contracts)) {
  if (!file.startsWith('contracts/')) continue;
  for (const [name, c] of Object.entries(contracts)) {
    if (!c.evm.bytecode.object) continue; // interfaces and abstract contracts
    const artifact = { contractName: name, sourceName: file, compiler: solc.version(), abi: c.abi,
      bytecode: '0x' + c.evm.bytecode.object, deployedBytecode: '0x' + c.evm.deployedBytecode.object };
    const dir = testContracts.includes(file) ? path.join(outDir, 'test') : outDir;
    fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(artifact, null, 1));
    n++;
  }
}
fs.writeFileSync(stamp, digest);
console.log(`compiled ${n} contracts with solc ${solc.version()} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
