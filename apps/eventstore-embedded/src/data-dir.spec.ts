import { spawnSync } from 'node:child_process';
import { transformSync } from '@swc/core';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkDataDir, dataDirErrorMessage } from './data-dir';

const uid = process.getuid?.();
/** What every message says to do, naming this process's user. */
const writableBy = (what: string, id = uid) =>
  `${what} must be writable by this process’s user (uid ${id}) — change its owner or mode, or set DATA_DIR to another directory`;

describe('checkDataDir', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'data-dir-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes a directory, or one that does not exist yet (it is created at start-up)', () => {
    const problems: string[] = [];
    expect(checkDataDir(dir, problems)).toBe(dir);
    expect(checkDataDir(join(dir, 'not-there-yet', 'deeper'), problems)).toBe(
      join(dir, 'not-there-yet', 'deeper'),
    );
    expect(problems).toEqual([]);
  });

  it('given a file, or a path through a file (ENOTDIR), names the setting and the path', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const problems: string[] = [];
    checkDataDir(file, problems);
    checkDataDir(join(file, 'eventstore'), problems, '--data');
    expect(problems).toEqual([
      `DATA_DIR: ${file} is not a directory`,
      `--data: ${join(file, 'eventstore')} is not a directory`,
    ]);
  });

  it('with writable, takes a directory this user can write, or a missing one it can create', () => {
    const problems: string[] = [];
    checkDataDir(dir, problems, 'DATA_DIR', { writable: true });
    checkDataDir(join(dir, 'not-there-yet', 'deeper'), problems, 'DATA_DIR', { writable: true });
    expect(problems).toEqual([]);
  });

  // root may write anywhere (access() says yes), so the refusal is checked as an unprivileged user: this
  // process when it is one, else a child run as `nobody`.
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((file) => existsSync(file));
  const unprivileged = uid !== 0 || runuser !== undefined;
  (unprivileged ? it : it.skip)(
    'with writable, given a directory this user cannot write (or create: its parent is not writable), names DATA_DIR, the path and the user (skipped as root without runuser)',
    () => {
      const parent = mkdtempSync(join(tmpdir(), 'data-dir-readonly-'));
      try {
        const readOnly = join(parent, 'read-only');
        mkdirSync(readOnly);
        chmodSync(parent, 0o755); // the child as nobody must reach it
        chmodSync(readOnly, 0o555);
        const check = (target: string): { problems: string[]; uid: number } => {
          if (uid !== 0) {
            const problems: string[] = [];
            checkDataDir(target, problems, 'DATA_DIR', { writable: true });
            return { problems, uid: uid! };
          }
          // The module (node built-ins only) transpiled into the temporary directory: nobody may not be able
          // to read the checkout (a clone under a 0700 directory), and needs nothing else of it.
          const module = join(parent, 'data-dir.js');
          if (!existsSync(module)) {
            const source = readFileSync(resolve(__dirname, 'data-dir.ts'), 'utf8');
            const { code } = transformSync(source, {
              filename: 'data-dir.ts',
              jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
              module: { type: 'commonjs' },
              swcrc: false,
              configFile: false,
            });
            writeFileSync(module, code, { mode: 0o644 });
          }
          const script =
            `const { checkDataDir } = require(${JSON.stringify(module)});` +
            `const problems = []; checkDataDir(${JSON.stringify(target)}, problems, 'DATA_DIR', { writable: true });` +
            'process.stdout.write(JSON.stringify({ problems, uid: process.getuid() }));';
          const child = spawnSync(runuser!, ['-u', 'nobody', '--', process.execPath, '-e', script], {
            cwd: parent,
            encoding: 'utf8',
            timeout: 30_000,
          });
          if (child.status !== 0) throw new Error(`the check as nobody failed: ${child.stderr}`);
          return JSON.parse(child.stdout) as { problems: string[]; uid: number };
        };
        const existing = check(readOnly);
        expect(existing.problems).toEqual([
          `DATA_DIR: ${readOnly} is not writable (EACCES): ${writableBy('the directory and what is in it', existing.uid)}`,
        ]);
        const missing = check(join(readOnly, 'data'));
        expect(missing.problems).toEqual([
          `DATA_DIR: ${join(readOnly, 'data')} cannot be created: ${readOnly} is not writable (EACCES): ${writableBy('it', missing.uid)}`,
        ]);
      } finally {
        chmodSync(parent, 0o700);
        rmSync(parent, { recursive: true, force: true });
      }
    },
  );
});

describe('dataDirErrorMessage', () => {
  const dataDir = '/srv/data';

  it('given the file system refusing a path under DATA_DIR, names DATA_DIR, the path and the user who must write it', () => {
    const fromFs = Object.assign(new Error("EACCES: permission denied, mkdir '/srv/data/eventstore'"), {
      code: 'EACCES',
      syscall: 'mkdir',
      path: '/srv/data/eventstore',
    });
    expect(dataDirErrorMessage(fromFs, dataDir)).toBe(
      `DATA_DIR: permission denied for /srv/data/eventstore (EACCES): ${writableBy('/srv/data and what is in it')}`,
    );
  });

  it('given only the message, as a worker thread passes it on, or SQLite’s words for a file named in it, says the same', () => {
    expect(
      dataDirErrorMessage(new Error("EROFS: read-only file system, open '/srv/data/x.json'"), dataDir),
    ).toBe(
      'DATA_DIR: cannot write /srv/data/x.json (EROFS): /srv/data and what is in it is on a read-only file ' +
        'system — mount it read-write, or set DATA_DIR to a directory on a writable one',
    );
    expect(
      dataDirErrorMessage(new Error("EPERM: operation not permitted, open '/srv/data/x.json'"), dataDir),
    ).toBe(
      `DATA_DIR: permission denied for /srv/data/x.json (EPERM): ${writableBy('/srv/data and what is in it')}`,
    );
    const sqlite = new Error(
      "Cannot open the event store's log /srv/data/eventstore/eventstore.sqlite: attempt to write a readonly database",
    );
    expect(dataDirErrorMessage(sqlite, dataDir)).toBe(
      'DATA_DIR: permission denied for /srv/data/eventstore/eventstore.sqlite (attempt to write a readonly ' +
        `database): ${writableBy('/srv/data and what is in it')}`,
    );
    const readModels = new Error(
      'Cannot open the read-model database (SQLite file /srv/data/read-models.sqlite): unable to open database file',
    );
    expect(dataDirErrorMessage(readModels, dataDir)).toMatch(
      /^DATA_DIR: permission denied for \/srv\/data\/read-models\.sqlite \(unable to open database file\)/,
    );
  });

  it('given a refusal outside DATA_DIR, a listen error or any other failure, has nothing to add', () => {
    const outside = Object.assign(new Error("EACCES: permission denied, open '/etc/shadow'"), {
      code: 'EACCES',
      path: '/etc/shadow',
    });
    const listen = Object.assign(new Error('listen EACCES: permission denied 127.0.0.1:80'), {
      code: 'EACCES',
      syscall: 'listen',
    });
    for (const error of [outside, listen, new Error('boom'), undefined])
      expect(dataDirErrorMessage(error, dataDir)).toBeUndefined();
    expect(
      dataDirErrorMessage(new Error("EACCES: permission denied, open '/srv/database'"), dataDir),
    ).toBeUndefined();
  });
});
