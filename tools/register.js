// Lets `npm start`, `npm run replay` and friends run the TypeScript sources directly after `npm ci`:
// swc transpiles each `.ts` file as it is required, with the options of `.swcrc` (the ones jest uses:
// decorator metadata, which NestJS needs), and tsconfig-paths resolves the @session-engine/* aliases.
// Stack traces point into the TypeScript sources (inline source maps).
//
// This is a require hook of its own rather than `ts-node`: ts-node loads Node's REPL, and the REPL
// loads the `domain` module, which wraps every EventEmitter construction and emit in the process
// for as long as it runs — a cost on every HTTP request for a feature nothing here uses.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const { transformSync } = require('@swc/core');

const root = path.resolve(__dirname, '..');
const swcOptions = JSON.parse(fs.readFileSync(path.join(root, '.swcrc'), 'utf8'));
delete swcOptions.$schema;

if (!Module._extensions['.ts']) {
  Module._extensions['.ts'] = function compileTypeScript(module, filename) {
    const source = fs.readFileSync(filename, 'utf8');
    const { code } = transformSync(source, { ...swcOptions, filename, swcrc: false, configFile: false });
    module._compile(code, filename);
  };
  process.setSourceMapsEnabled(true);

  const tsConfigPaths = require('tsconfig-paths');
  const { compilerOptions } = require(path.join(root, 'tsconfig.json'));
  tsConfigPaths.register({ baseUrl: root, paths: compilerOptions.paths });
}
