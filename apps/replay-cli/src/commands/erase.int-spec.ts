/**
 * `erase`: an erasure request finds every stream that holds the customer — sessions naming the profile (created
 * with it or changed to or from it), sessions carrying one of the identifiers, the profile's claim stream and the
 * sessions' idempotency records — prints the plan, and with `--yes` tombstones them. A session that also names
 * another customer is left alone unless asked for; other customers and other applications are untouched; a second
 * run counts what the first erased.
 */
import { StreamTombstonedError } from '@session-engine/event-store';
import { INTEGRATION_KEY, INTEGRATION_KEY_APP2, ReplaySystem } from '../testing/replay-system';
import { replayCli, type CliRun } from '../testing/run-cli';

jest.setTimeout(60_000);

let system: ReplaySystem;
let replay: (args: string[]) => Promise<CliRun>;

/** Alice of application 1, by her profile and her e-mail address, erased for good. */
const ERASE_ALICE = [
  'erase',
  '--profile',
  'alice',
  '--identifier',
  'alice@example.com',
  '-a',
  '1',
  '--yes',
  '--json',
];

const session = (customerSession: Record<string, unknown>) => ({ customerSession });

async function keyed(path: string, body: unknown, key: string) {
  const response = await fetch(`${system.baseUrl}${path}`, {
    method: 'POST',
    headers: {
      authorization: `ApiKey-v1 ${INTEGRATION_KEY}`,
      'content-type': 'application/json',
      'idempotency-key': key,
    },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function readable(stream: string): Promise<boolean> {
  try {
    await system.adapter.readStream(stream);
    return true;
  } catch (error) {
    if (error instanceof StreamTombstonedError) return false;
    throw error;
  }
}

beforeAll(async () => {
  system = await ReplaySystem.start({ backend: 'sqlite', projector: false });
  replay = replayCli(system.env());
  const put = (id: string, body: Record<string, unknown>, key?: string) =>
    system.command('PUT', `/v2/customer_sessions/${id}`, session(body), key);
  await put('alice-1', {
    profileId: 'alice',
    identifiers: ['alice@example.com'],
    cartItems: [{ sku: 'a', quantity: 1 }],
  });
  await put('alice-2', { profileId: 'alice' });
  await system.command('POST', '/v2/customer_sessions/alice-2/close');
  // A keyed command that changed nothing: its record names the session.
  expect((await keyed('/v2/customer_sessions/alice-2/cart_items', { cartItems: [] }, 'noop-1')).status).toBe(
    200,
  );
  // A keyed command that appended: its key lives in the session's events only.
  expect(
    (
      await keyed(
        '/v2/customer_sessions/alice-1/cart_items',
        { cartItems: [{ sku: 'b', quantity: 1 }] },
        'add-1',
      )
    ).status,
  ).toBe(200);
  await put('moved', { profileId: 'alice' });
  await put('moved', { profileId: 'bob' });
  await put('guest', { identifiers: ['alice@example.com'] });
  await put('bob-1', { profileId: 'bob' });
  await put('alice-app2', { profileId: 'alice' }, INTEGRATION_KEY_APP2);
});

afterAll(async () => {
  await system?.stop();
});

describe('erase', () => {
  it('without --yes prints the plan and erases nothing; a session shared with another customer is left (exit 1)', async () => {
    const run = await replay(['erase', '--profile', 'alice', '-a', '1', '--no-progress']);
    expect(run.code).toBe(1);
    const rows = run.stdout.split('\n').filter((line) => /^│ (session|profile|idempotency)-/.test(line));
    expect(rows.map((line) => line.split('│')[1]!.trim())).toEqual([
      'session-1-alice-1',
      'session-1-alice-2',
      'session-1-moved',
      expect.stringMatching(/^idempotency-1-[0-9a-f]{64}$/),
      'profile-1-alice',
    ]);
    expect(run.stdout).toMatch(/session-1-moved .*left: shared/);
    expect(run.stdout).toContain('also names "bob"');
    expect(run.stderr).toContain(
      'Nothing was erased: run the same command with --yes to tombstone the 4 stream(s)',
    );
    expect(run.stderr).toContain('1 stream(s) left alone');
    for (const stream of ['session-1-alice-1', 'session-1-alice-2', 'profile-1-alice'])
      expect(await readable(stream)).toBe(true);
  });

  it('with --yes tombstones the customer in that application only; the API then knows no such session', async () => {
    const run = await replay(ERASE_ALICE);
    expect(run.code).toBe(1);
    const result = JSON.parse(run.stdout);
    expect(result.counts).toEqual({ erased: 5, alreadyErased: 0, toErase: 0, left: 1 });
    const outcomes = Object.fromEntries(
      result.streams.map((entry: { stream: string; outcome: string }) => [entry.stream, entry.outcome]),
    );
    expect(outcomes).toMatchObject({
      'session-1-alice-1': 'erased',
      'session-1-alice-2': 'erased',
      'session-1-guest': 'erased',
      'session-1-moved': 'left: shared',
      'profile-1-alice': 'erased',
    });
    const guest = result.streams.find((entry: { stream: string }) => entry.stream === 'session-1-guest');
    expect(guest.foundBy).toEqual(['identifier alice@example.com']);
    for (const stream of Object.keys(outcomes).filter((name) => outcomes[name] === 'erased'))
      expect(await readable(stream)).toBe(false);
    for (const stream of ['session-1-moved', 'session-1-bob-1', 'session-2-alice-app2', 'profile-2-alice'])
      expect(await readable(stream)).toBe(true);
    expect(run.stderr).toContain('docs/operations.md, "Erasure requests"');

    // Retries of the erased sessions' keyed commands, the one that appended and the no-op, are answered as a
    // read of the session is: nothing of it comes back.
    const add = await keyed(
      '/v2/customer_sessions/alice-1/cart_items',
      { cartItems: [{ sku: 'b', quantity: 1 }] },
      'add-1',
    );
    const noOp = await keyed('/v2/customer_sessions/alice-2/cart_items', { cartItems: [] }, 'noop-1');
    for (const reply of [add, noOp]) {
      expect(reply.status).toBe(404);
      expect(reply.body.errors[0].title).toBe('SESSION_NOT_FOUND');
    }
  });

  it('run again, counts what was erased as erased; the shared session goes when named', async () => {
    const again = await replay(ERASE_ALICE);
    expect(JSON.parse(again.stdout).counts).toEqual({ erased: 0, alreadyErased: 5, toErase: 0, left: 1 });
    const named = await replay(['erase', '--session', 'moved', '-a', '1', '--yes', '--no-progress']);
    expect(named.code).toBe(0);
    expect(named.stdout).toMatch(/session-1-moved .*erased/);
    expect(await readable('session-1-moved')).toBe(false);
    expect(await readable('session-1-bob-1')).toBe(true);
  });

  it('says when nothing holds the customer (exit 0), and refuses a request that names no one or no application (exit 2)', async () => {
    const none = await replay(['erase', '--profile', 'nobody', '-a', '1', '--no-progress']);
    expect({ code: none.code, stdout: none.stdout }).toEqual({ code: 0, stdout: '' });
    expect(none.stderr).toBe('No stream of application 1 holds profile "nobody": nothing to erase.\n');
    const nobody = await replay(['erase', '-a', '1']);
    expect(nobody.code).toBe(2);
    expect(nobody.stderr).toContain('Name whom to erase');
    // Ids are per application: the same profile id in another application is another customer.
    const unscoped = await replay(['erase', '--profile', 'alice']);
    expect(unscoped.code).toBe(2);
    expect(unscoped.stderr).toContain("required option '-a, --application <id>' not specified");
    expect(await readable('session-2-alice-app2')).toBe(true);
  });
});
