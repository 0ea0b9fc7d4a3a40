// Every exported name of every entry point must appear in at least one example under examples/
// (the public API is forever: each name is documented, in the API site, and shown in use).
// Prints the names that no example mentions and exits 1 if there are any.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const entries = Object.entries(pkg.exports)
  .filter(([, target]) => typeof target === 'object')
  .map(([subpath, target]) => [subpath, target.types.replace('./dist/', 'src/').replace(/\.d\.ts$/, '.ts')]);

const program = ts.createProgram(entries.map(([, file]) => file), { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, types: ['node'] });
const checker = program.getTypeChecker();
const examples = readdirSync('examples')
  .filter((f) => /\.(ts|mts)$/.test(f))
  .map((f) => readFileSync(join('examples', f), 'utf8'))
  .join('\n');

const missing = [];
let total = 0;
for (const [subpath, file] of entries) {
  const source = program.getSourceFile(file);
  const symbol = source && checker.getSymbolAtLocation(source);
  if (!symbol) throw new Error(`cannot read the exports of ${file}`);
  for (const name of checker.getExportsOfModule(symbol).map((s) => s.getName())) {
    total++;
    if (!new RegExp(`\\b${name}\\b`).test(examples)) missing.push(`${subpath}: ${name}`);
  }
}
console.log(`public names: ${total}; shown in examples: ${total - missing.length}`);
if (missing.length > 0) {
  console.log(`not shown in any example:\n  ${missing.join('\n  ')}`);
  process.exit(1);
}
