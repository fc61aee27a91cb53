// Builds the page into dist/: the script and the service worker bundled by esbuild (with the
// address checksum's BLAKE2b and base58 from @noble/hashes and @scure/base), the static files
// copied. The `ui` Spin component embeds dist/ (components/ui/build.rs).
import { build } from 'esbuild';
import { cpSync, mkdirSync, rmSync } from 'node:fs';

const out = new URL('./dist/', import.meta.url).pathname;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
cpSync(new URL('./static/', import.meta.url).pathname, out, { recursive: true });
const common = {
  bundle: true,
  target: ['chrome111', 'firefox115', 'safari16.4'],
  minify: true,
  sourcemap: 'linked',
  outdir: out,
  logLevel: 'warning',
};
// The page is a module; the service worker a classic script (module workers are not everywhere).
await build({ ...common, entryPoints: { app: 'src/main.js' }, format: 'esm' });
await build({ ...common, entryPoints: { sw: 'src/sw.js' }, format: 'iife' });
