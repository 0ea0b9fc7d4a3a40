// Checks the published type declarations that `npm run build` bundles into dist/ (one .d.ts per
// entry point of the exports map, shared types in dist/_types/): run `npm run build` first.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, string | { types: string; default: string }>;
  dependencies: Record<string, string>;
};
const entries = Object.entries(pkg.exports).flatMap(([subpath, target]) =>
  typeof target === 'object' ? [{ subpath, file: join(root, target.types) }] : [],
);
const typeTest = join(root, 'test/types/package-types.ts');
const rel = (file: string): string => relative(root, file);

/** The module specifiers a declaration file imports or re-exports, `import("…")` types included. */
function specifiers(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Every .d.ts that the entry points reach, and the problems met on the way. */
function walkDeclarations(): { reached: Set<string>; problems: string[] } {
  const reached = new Set<string>();
  const problems: string[] = [];
  const pending = entries.map((e) => e.file);
  for (const entry of entries) if (!existsSync(entry.file)) problems.push(`${entry.subpath}: ${rel(entry.file)} is missing`);
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (reached.has(file) || !existsSync(file)) continue;
    reached.add(file);
    for (const spec of specifiers(file)) {
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec.replace(/\.js$/, '.d.ts'));
        if (!spec.endsWith('.js')) problems.push(`${rel(file)} imports '${spec}' (NodeNext needs a .js path)`);
        else if (!target.startsWith(dist + '/') || !existsSync(target)) problems.push(`${rel(file)} imports '${spec}', which is not in dist`);
        else pending.push(target);
      } else {
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        const builtin = spec.startsWith('node:') || builtinModules.includes(name);
        if (!builtin && !(name in pkg.dependencies)) problems.push(`${rel(file)} imports '${spec}', which is not a dependency`);
      }
    }
  }
  return { reached, problems };
}

function declarationFilesIn(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.d\.(ts|ts\.map)$/.test(f))
    .map((f) => join(dir, f));
}

describe('published type declarations', () => {
  it('are one bundled .d.ts per entry point, importing only files in dist and runtime dependencies', () => {
    expect(entries.map((e) => e.subpath)).toEqual(['.', './storage/memory', './storage/file', './transport/memory', './transport/tcp', './testing']);
    const { reached, problems } = walkDeclarations();
    expect(problems).toEqual([]);
    // Nothing else: no per-module .d.ts or .d.ts.map of tsc is left to be published.
    expect(declarationFilesIn(dist).map(rel).sort()).toEqual([...reached].map(rel).sort());
    for (const file of reached) expect(rel(file)).toMatch(/^dist\/(_types\/[\w-]+\.d\.ts|([\w/]+\/)?index\.d\.ts)$/);
  });

  it('name one type where entry points share it (NodeId, NonstopError, …), and type-check with skipLibCheck off', () => {
    const program = ts.createProgram([typeTest], {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2023.d.ts'],
      types: ['node'],
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      skipLibCheck: false,
      noEmit: true,
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => !d.file?.fileName.includes('/node_modules/'));
    expect(ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' })).toBe('');

    // The package resolves to the bundles, through its name.
    const used = program.getSourceFiles().map((f) => f.fileName).filter((f) => f.startsWith(dist + '/'));
    expect(used.map(rel)).toEqual(expect.arrayContaining(['dist/index.d.ts', 'dist/testing/index.d.ts', 'dist/transport/memory/index.d.ts']));

    const checker = program.getTypeChecker();
    const where = (type: ts.Type): string[] => {
      const symbol = type.aliasSymbol ?? type.getSymbol();
      const declarations = (symbol?.declarations ?? []).map((d) => `${rel(d.getSourceFile().fileName)}@${d.pos}`);
      const bases = type.isClassOrInterface() ? checker.getBaseTypes(type).flatMap(where) : [];
      return [`${checker.typeToString(type)} = ${declarations.join(', ') || '?'}`, ...bases];
    };
    const source = program.getSourceFile(typeTest)!;
    const pairs = source.statements.filter(
      (s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text.startsWith('Same'),
    );
    expect(pairs.map((p) => p.name.text)).toEqual(['SameNodeId', 'SameTransport', 'SameProtocolError', 'SameMemoryNetwork']);
    for (const pair of pairs) {
      const [a, b] = checker.getTypeArguments(checker.getTypeAtLocation(pair.name) as ts.TypeReference);
      expect(where(a!), pair.name.text).toEqual(where(b!));
    }
    // The ProtocolError that `nonstop/testing` uses extends the NonstopError that `nonstop` exports.
    const rootImport = source.statements.find(
      (s): s is ts.ImportDeclaration => ts.isImportDeclaration(s) && (s.moduleSpecifier as ts.StringLiteral).text === 'nonstop',
    )!;
    const bindings = rootImport.importClause!.namedBindings as ts.NamedImports;
    const nonstopError = bindings.elements.find((e) => e.name.text === 'NonstopError')!;
    const declared = checker.getDeclaredTypeOfSymbol(checker.getAliasedSymbol(checker.getSymbolAtLocation(nonstopError.name)!));
    const protocolError = pairs.find((p) => p.name.text === 'SameProtocolError')!;
    const chain = where(checker.getTypeArguments(checker.getTypeAtLocation(protocolError.name) as ts.TypeReference)[0]!);
    expect(where(declared)[0]).toMatch(/^NonstopError = dist\//);
    expect(chain).toContain(where(declared)[0]);
  });
});
