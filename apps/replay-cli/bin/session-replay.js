#!/usr/bin/env node
// `session-replay <command>`: runs the TypeScript sources directly, as `npm run replay` does.
'use strict';
require('../../../tools/register.js');
require('../src/main.ts');
