/**
 * A write error on stdout that is not its reader going away (`> /dev/full`: ENOSPC) ends the command with one
 * line naming the failure and exit 2 — no stack trace, and not exit 1 (which says the audit found something);
 * export says the file is incomplete. (A reader that goes away, EPIPE, still ends quietly with exit 0:
 * transfer.int-spec.ts.)
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { ReplaySystem } from '../testing/replay-system';

jest.setTimeout(120_000);

const ROOT = join(__dirname, '../../../..');
let system: ReplaySystem;

/** The CLI in its own process, its stdout `/dev/full`. */
function intoFullDisk(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const full = openSync('/dev/full', 'w');
  try {
    const child = spawn(
      process.execPath,
      ['-r', './tools/register.js', 'apps/replay-cli/src/main.ts', ...args],
      { cwd: ROOT, env: { ...process.env, ...system.env() }, stdio: ['ignore', full, 'pipe'] },
    );
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
  } finally {
    closeSync(full);
  }
}

beforeAll(async () => {
  system = await ReplaySystem.start({ backend: 'sqlite' });
  await system.command('PUT', '/v2/customer_sessions/cart-1', {
    customerSession: { profileId: 'alice', cartItems: [{ sku: 'tee', quantity: 1, price: 5 }] },
  });
});

afterAll(async () => {
  await system?.stop();
});

describe('stdout on a full disk', () => {
  it.each([
    ['history', ['history', 'cart-1', '-a', '1']],
    ['state --json', ['state', 'cart-1', '-a', '1', '--json']],
  ])('%s: one line naming the failure, exit 2', async (_name, args) => {
    const run = await intoFullDisk(args);
    expect(run).toEqual({
      code: 2,
      stderr:
        'session-replay: writing to stdout failed (ENOSPC: no space left on device, write): the output is ' +
        'incomplete\n',
    });
  });

  it('export: one line saying the file is incomplete, exit 2', async () => {
    const run = await intoFullDisk(['export']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /^session-replay: writing the export to stdout failed \(ENOSPC: no space left on device, write\): the file on stdout is incomplete — at most \d+ of the 2 stream\(s\) its header announces reached it, .*; do not keep it as a backup\. Run the export again where it can be written\.\n$/,
    );
  });
});
