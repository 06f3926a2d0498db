// Lets `npm start`, `npm run replay` and friends run the TypeScript sources directly after `npm ci`:
// swc transpiles (with decorator metadata, which NestJS needs) and tsconfig-paths resolves the
// @session-engine/* aliases.
'use strict';
const path = require('node:path');
const root = path.resolve(__dirname, '..');
require('ts-node').register({
  project: path.join(root, 'tsconfig.json'),
  swc: true,
  transpileOnly: true,
});
const tsConfigPaths = require('tsconfig-paths');
const { compilerOptions } = require(path.join(root, 'tsconfig.json'));
tsConfigPaths.register({ baseUrl: root, paths: compilerOptions.paths });
