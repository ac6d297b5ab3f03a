/**
 * The dashboard's front-end assets: one script (the client in `web/app.ts` with uPlot bundled in),
 * one stylesheet (uPlot's CSS and ours) and an icon. `npm run build` writes them to
 * `dist/dashboard/assets/` (scripts/build-dashboard.mjs); when they are missing there, or when
 * running from the TypeScript sources (tests, tsx), they are built in memory with esbuild. Nothing
 * is fetched from elsewhere: the dashboard works on an offline network.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface Asset {
  name: string;
  type: string;
  body: Buffer;
  /** A short content hash, used in URLs (`?v=`) so assets can be cached for a year. */
  hash: string;
}

export const ASSET_TYPES: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'icon.svg': 'image/svg+xml',
};

const here = path.dirname(fileURLToPath(import.meta.url));
const fromSources = import.meta.url.endsWith('.ts');

/** src/dashboard/web whether this module runs from src/ or from dist/. */
function webSourceDir(): string {
  return fromSources ? path.join(here, 'web') : path.resolve(here, '../../src/dashboard/web');
}

/** Builds the three assets with esbuild (a devDependency), in memory. */
export async function buildAssets(): Promise<Map<string, Buffer>> {
  const web = webSourceDir();
  if (!existsSync(path.join(web, 'app.ts'))) throw new Error(`dashboard assets are not built and the sources (${web}) are missing: run npm run build`);
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    throw new Error('dashboard assets are not built and esbuild is not installed: run npm run build in a development checkout');
  }
  const result = await esbuild.build({
    entryPoints: [path.join(web, 'app.ts')],
    bundle: true,
    format: 'iife',
    target: ['es2020'],
    minify: true,
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const js = Buffer.from(result.outputFiles[0]!.contents);
  const require = createRequire(import.meta.url);
  const uplotCss = readFileSync(require.resolve('uplot/dist/uPlot.min.css'));
  const ownCss = readFileSync(path.join(web, 'style.css'));
  const css = Buffer.concat([uplotCss, Buffer.from('\n'), ownCss]);
  const icon = readFileSync(path.join(web, 'icon.svg'));
  return new Map([['app.js', js], ['app.css', css], ['icon.svg', icon]]);
}

/** The built assets from dist/dashboard/assets/, or built now. */
export async function loadAssets(): Promise<Map<string, Asset>> {
  let files: Map<string, Buffer> | null = null;
  const builtDir = path.join(here, 'assets');
  if (!fromSources && existsSync(path.join(builtDir, 'app.js'))) {
    files = new Map();
    for (const name of Object.keys(ASSET_TYPES)) files.set(name, await readFile(path.join(builtDir, name)));
  } else {
    files = await buildAssets();
  }
  const out = new Map<string, Asset>();
  for (const [name, body] of files) {
    out.set(name, { name, type: ASSET_TYPES[name]!, body, hash: createHash('sha256').update(body).digest('hex').slice(0, 12) });
  }
  return out;
}
