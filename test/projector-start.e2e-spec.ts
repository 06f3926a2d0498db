/**
 * The standalone projector (`npm run start:projector`) whose metrics port is taken: it stops before it connects
 * and takes the read-model lock, with one line naming the address and the setting, exit code 1 — not after
 * leading ("holds the read-model lock", then "stopped", then the failure).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { closedPort } from '@session-engine/testing';

jest.setTimeout(60_000);

it('refuses a metrics port in use before it takes the read-model lock: one line, exit code 1', async () => {
  // Given the metrics port taken by another server
  const taken = createServer();
  await new Promise<void>((done) => taken.listen(0, '127.0.0.1', done));
  const port = (taken.address() as AddressInfo).port;
  const dataDir = mkdtempSync(join(tmpdir(), 'projector-start-e2e-'));
  try {
    // When the projector starts with it
    const child = spawn(process.execPath, ['-r', './tools/register.js', 'apps/projector/src/main.ts'], {
      cwd: resolve(__dirname, '..'),
      env: {
        PATH: process.env.PATH,
        EVENTSTORE_CONNECTION_STRING: `esdb://127.0.0.1:${await closedPort()}?tls=false`,
        DATA_DIR: dataDir,
        PROJECTOR_METRICS_PORT: String(port),
        LOG_LEVEL: 'info',
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((done) => child.once('exit', done));
    // Then it says why and exits, having led nothing
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(
      `projector: could not start: The projector’s metrics and health endpoint cannot listen on 127.0.0.1:${port}: ` +
        'another process is using that port. Stop it, or set PROJECTOR_METRICS_PORT to a free port (0 for none).',
    );
    expect(stdout).not.toContain('read-model lock');
  } finally {
    taken.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
