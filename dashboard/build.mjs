// Bundles the dashboard with esbuild into one output directory:
//   index.html            (names the hashed bundles)
//   assets/main-<hash>.js, assets/main-<hash>.css
//
//   node build.mjs --node-modules DIR --out DIR
//
// DIR of --node-modules holds the packages `npm ci` installed from
// package-lock.json (the CMake build runs it in the build directory, so the
// source tree stays clean). The file names carry a content hash, so the
// collector can let browsers cache them for good.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? path.resolve(process.argv[i + 1]) : fallback;
}

const nodeModules = arg('--node-modules', path.join(here, 'node_modules'));
const out = arg('--out', path.join(here, 'dist'));
const require = createRequire(path.join(nodeModules, 'resolve-from-here.js'));
const esbuild = require('esbuild');

rmSync(out, { recursive: true, force: true });
mkdirSync(path.join(out, 'assets'), { recursive: true });

const result = await esbuild.build({
  entryPoints: [path.join(here, 'src/main.js')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  outdir: path.join(out, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  nodePaths: [nodeModules],
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => path.basename(p));
const js = outputs.find((f) => f.endsWith('.js'));
const css = outputs.find((f) => f.endsWith('.css'));
if (!js || !css) {
  console.error(`build.mjs: expected one .js and one .css bundle, got ${outputs.join(', ')}`);
  process.exit(1);
}
const html = readFileSync(path.join(here, 'src/index.html'), 'utf8')
  .replace('%MAIN_JS%', js)
  .replace('%MAIN_CSS%', css);
writeFileSync(path.join(out, 'index.html'), html);
for (const f of outputs) {
  const bytes = result.metafile.outputs[Object.keys(result.metafile.outputs).find((p) => p.endsWith(f))].bytes;
  console.log(`dashboard: assets/${f} ${bytes} bytes`);
}
