// Second half of `npm run build`: `tsc -p tsconfig.json` writes dist/*.js and one .d.ts per
// module into .tmp/dts; this bundles those into one self-contained .d.ts per entry point of the
// package.json exports map (the file its `types` condition names). Types shared by several
// entry points are emitted once, in dist/_types/ chunks or by importing another entry point,
// so `nonstop` and `nonstop/testing` name the very same NodeId, NonstopError, Transport, ...
import { readFileSync } from 'node:fs';
import { dts } from 'rollup-plugin-dts';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const input = Object.fromEntries(
  Object.values(pkg.exports)
    .filter((target) => typeof target === 'object')
    .map((target) => {
      const name = target.types.replace(/^\.\/dist\//, '').replace(/\.d\.ts$/, '');
      return [name, `.tmp/dts/${name}.d.ts`];
    }),
);

export default {
  input,
  // Node's built-in modules come from @types/node, as do the other packages' types.
  external: [/^node:/],
  output: {
    dir: 'dist',
    format: 'es',
    entryFileNames: '[name].d.ts',
    chunkFileNames: (chunk) => `_types/${chunk.name.replace(/\.d$/, '')}-[hash].d.ts`,
  },
  plugins: [dts({ tsconfig: 'tsconfig.json' })],
};
