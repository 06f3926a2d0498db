// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const nodeBuiltins = [
  'fs',
  'path',
  'os',
  'crypto',
  'http',
  'https',
  'net',
  'child_process',
  'worker_threads',
  'stream',
  'events',
  'timers',
  'process',
  'cluster',
  'dgram',
  'dns',
  'tls',
  'zlib',
  'readline',
  'perf_hooks',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'coverage/**', 'data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    languageOptions: { parserOptions: { project: false } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': ['error', { allow: ['error'] }],
    },
  },
  {
    files: [
      '**/*.spec.ts',
      '**/*.int-spec.ts',
      '**/*.e2e-spec.ts',
      'libs/testing/**/*.ts',
      '**/bench/**/*.ts',
      'apps/replay-cli/**/*.ts',
      'tools/**/*.ts',
    ],
    rules: { 'no-console': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    // The domain is pure: no framework, no event-store client, no I/O, no clock, no random ids.
    // Time and ids arrive inside commands; that is what makes replays reproducible.
    files: ['libs/session-domain/src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'The session domain performs no I/O.' })),
          patterns: [
            { group: ['node:*'], message: 'The session domain performs no I/O.' },
            {
              group: ['@nestjs/*', 'class-validator', 'class-transformer'],
              message: 'The session domain is framework-free.',
            },
            {
              group: ['@eventstore/*', '@kurrent/*', '@grpc/*'],
              message: 'The session domain does not know the event store.',
            },
            {
              group: ['@session-engine/*', '!@session-engine/session-domain'],
              message: 'The domain depends on no other lib.',
            },
            {
              group: ['uuid', 'pg', 'better-sqlite3', 'kysely'],
              message: 'The session domain performs no I/O and draws no ids.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'The session domain reads no environment.' },
        { name: 'setTimeout', message: 'The session domain has no timers.' },
        { name: 'setInterval', message: 'The session domain has no timers.' },
        { name: 'fetch', message: 'The session domain performs no I/O.' },
        { name: 'crypto', message: 'Ids arrive inside the command.' },
        { name: 'require', message: 'Use imports.' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'The clock arrives inside the command.',
        },
        {
          selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
          message: 'The clock arrives inside the command.',
        },
        {
          selector: "CallExpression[callee.object.name='Math'][callee.property.name='random']",
          message: 'Ids arrive inside the command.',
        },
        {
          selector: "CallExpression[callee.object.name='performance']",
          message: 'The session domain reads no clock.',
        },
      ],
    },
  },
  {
    // The few JavaScript files (the TypeScript require hook, the CLI's bin, the container's health check, the
    // coverage report, jest's config) are CommonJS run by Node as they are.
    files: ['**/*.{js,cjs}'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: Object.fromEntries(
        [
          'require',
          'module',
          'exports',
          '__dirname',
          '__filename',
          'process',
          'console',
          'Buffer',
          'setTimeout',
          'clearTimeout',
          'setInterval',
          'clearInterval',
          'setImmediate',
          'clearImmediate',
          'queueMicrotask',
          'structuredClone',
          'URL',
          'URLSearchParams',
          'AbortController',
          'AbortSignal',
          'TextEncoder',
          'TextDecoder',
          'fetch',
        ].map((name) => [name, 'readonly']),
      ),
    },
    rules: { '@typescript-eslint/no-require-imports': 'off', 'no-console': 'off' },
  },
);
