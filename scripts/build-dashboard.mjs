#!/usr/bin/env node
// Builds the dashboard's front end (src/dashboard/web → dist/dashboard/assets/) after tsc has
// compiled dist/dashboard/assets.js: one bundled script with uPlot, one stylesheet, one icon.
import { mkdirSync, writeFileSync } from 'node:fs';
import { buildAssets } from '../dist/dashboard/assets.js';

const files = await buildAssets();
const out = new URL('../dist/dashboard/assets/', import.meta.url);
mkdirSync(out, { recursive: true });
for (const [name, body] of files) writeFileSync(new URL(name, out), body);
console.log(`dashboard assets: ${[...files].map(([n, b]) => `${n} ${(b.length / 1024).toFixed(1)} KiB`).join(', ')}`);
