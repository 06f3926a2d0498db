/**
 * `history` answers who did each change, with which request, and for how much money: every event carries its
 * stored metadata's `actor` (the API key's id), `correlationId` (the request id), `idempotencyKey` and
 * `causationId`, what it did to the revenue the session counts (counted on close, returned, reversed on cancel)
 * and the revenue counted after it — in --json and in the table.
 */
import { keyIdOf } from '../../../session-api/src/config/api-keys';
import { INTEGRATION_KEY, ReplaySystem } from '../testing/replay-system';
import { replayCli, type CliRun } from '../testing/run-cli';

jest.setTimeout(60_000);

let system: ReplaySystem;
let replay: (args: string[]) => Promise<CliRun>;

async function send(method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const response = await fetch(`${system.baseUrl}/v2/customer_sessions/money-1${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      authorization: `ApiKey-v1 ${INTEGRATION_KEY}`,
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status !== 200)
    throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
}

beforeAll(async () => {
  system = await ReplaySystem.start({ backend: 'sqlite' });
  replay = replayCli(system.env());
  await send(
    'PUT',
    '',
    { 'x-request-id': 'req-create' },
    { customerSession: { profileId: 'alice', cartItems: [{ sku: 'tee', quantity: 3, price: 9.78 }] } },
  );
  await send('POST', '/close', { 'x-request-id': 'req-close', 'idempotency-key': 'close-once' });
  await send(
    'POST',
    '/returns',
    { 'x-request-id': 'req-return' },
    { return: { returnedCartItems: [{ position: 0, quantity: 1 }] } },
  );
  await send('POST', '/cancel', { 'x-request-id': 'req-cancel' });
  await system.command('PUT', '/v2/customer_sessions/paths-1', { customerSession: {} });
  await system.command('PUT', '/v2/customer_sessions/paths-1', {
    customerSession: { attributes: { 'a.b': 1, 'c[0]': 2 } },
  });
  await system.command('PUT', '/v2/customer_sessions/paths-1', {
    customerSession: { attributes: { a: { b: 1 }, c: [{ x: 2 }] } },
  });
});

afterAll(async () => {
  await system?.stop();
});

describe('history: who, with which request, for how much money', () => {
  it('--json has the metadata of each event and the revenue it counted, returned or reversed', async () => {
    const run = await replay(['history', 'money-1', '-a', '1', '--json']);
    expect(run.code).toBe(0);
    const events = run.json().events;
    const actor = keyIdOf(INTEGRATION_KEY);
    expect(
      events.map((e: Record<string, unknown>) => ({
        type: e.type,
        actor: e.actor,
        correlationId: e.correlationId,
        idempotencyKey: e.idempotencyKey,
        causationId: e.causationId,
        revenue: e.revenue,
        countedRevenue: e.countedRevenue,
      })),
    ).toEqual([
      {
        type: 'SessionCreated',
        actor,
        correlationId: 'req-create',
        idempotencyKey: null,
        causationId: null,
        revenue: null,
        countedRevenue: '0',
      },
      {
        type: 'SessionClosed',
        actor,
        correlationId: 'req-close',
        idempotencyKey: 'close-once',
        causationId: null,
        revenue: {
          change: 'counted',
          amount: '29.34',
          items: [{ position: 0, sku: 'tee', quantity: 3, value: '29.34' }],
        },
        countedRevenue: '29.34',
      },
      {
        type: 'CartItemsReturned',
        actor,
        correlationId: 'req-return',
        idempotencyKey: null,
        causationId: null,
        revenue: {
          change: 'returned',
          returnId: expect.any(Number),
          amount: '9.78',
          items: [{ position: 0, sku: 'tee', quantity: 1, value: '9.78' }],
        },
        countedRevenue: '19.56',
      },
      {
        type: 'SessionCancelled',
        actor,
        correlationId: 'req-cancel',
        idempotencyKey: null,
        causationId: null,
        revenue: {
          change: 'reversed',
          amount: '19.56',
          items: [{ position: 0, sku: 'tee', quantity: 2, value: '19.56' }],
        },
        countedRevenue: '0',
      },
    ]);
    expect(events[1].commandId).toEqual(expect.any(String));
  });

  it('the table has a command column (by, request) and the revenue in the change text', async () => {
    const run = await replay(['history', 'money-1', '-a', '1']);
    expect(run.code).toBe(0);
    const out = run.stdout;
    expect(out).toContain('command (by, request)');
    expect(out).toContain(`by ${keyIdOf(INTEGRATION_KEY)}`);
    for (const request of ['req-create', 'req-close', 'req-return', 'req-cancel'])
      expect(out).toContain(`request ${request}`);
    expect(out).toContain('key close-once');
    expect(out).toContain('revenue counted: 29.34');
    expect(out).toMatch(/return \d+: 9\.78 returned/);
    expect(out).toContain('revenue reversed: 19.56');
    expect(out).toContain('revenue counted 19.56');
    // The cart's totals stay the cart's; the revenue counted after each event is its own line.
    expect(out.match(/revenue counted 0\b/g)).toHaveLength(2);
  });
});

describe('history: field paths', () => {
  it('a key holding "." or "[n]" is not shown as a nested key or an array element, in --json and the table', async () => {
    const run = await replay(['history', 'paths-1', '-a', '1', '--json']);
    expect(run.code).toBe(0);
    const fields = run
      .json()
      .events.map((e: { changes: { field: string }[] }) => e.changes.map((c) => c.field));
    expect(fields[1]).toEqual(expect.arrayContaining(['attributes["a.b"]', 'attributes["c[0]"]']));
    expect(fields[2]).toEqual(expect.arrayContaining(['attributes.a', 'attributes.c']));
    expect(fields.flat()).not.toContain('attributes.a.b');
    const table = await replay(['history', 'paths-1', '-a', '1']);
    expect(table.stdout).toContain('attributes["a.b"]: ∅ → 1');
    expect(table.stdout).toContain('attributes["c[0]"]: ∅ → 2');
    expect(table.stdout).toContain('attributes.a: ∅ → {"b":1}');
  });
});

describe('history and state: a system event in the session stream', () => {
  // Given a session whose stream holds a `$`-typed event (a link another tool wrote), when an auditor reads it,
  // then the session's own events are shown and folded, and the system event is passed by, as GET passes it by.
  it('is passed by: no row of its own, the state as before it', async () => {
    await system.command('PUT', '/v2/customer_sessions/linked-1', {
      customerSession: { cartItems: [{ sku: 'cap', quantity: 2, price: 5 }] },
    });
    await system.adapter.appendToStream(
      'session-1-linked-1',
      [{ type: '$>', data: {}, metadata: {} }] as never,
      'any',
    );
    await system.command('POST', '/v2/customer_sessions/linked-1/close');

    const history = await replay(['history', 'linked-1', '--application', '1', '--json']);
    expect(history.code).toBe(0);
    const rows = (JSON.parse(history.stdout) as { events: { revision: number; type: string }[] }).events;
    expect(rows.map((row) => [row.revision, row.type])).toEqual([
      [0, 'SessionCreated'],
      [2, 'SessionClosed'],
    ]);

    const state = await replay(['state', 'linked-1', '--application', '1', '--json']);
    expect(state.code).toBe(0);
    expect(JSON.parse(state.stdout)).toMatchObject({ customerSession: { state: 'closed', total: 10 } });
    const table = await replay(['history', 'linked-1', '--application', '1']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('session-1-linked-1: 2 event(s)');
  });

  it('state before the session was created, when system events come first, says so', async () => {
    const stream = 'session-1-late-start';
    await system.adapter.appendToStream(
      stream,
      [{ type: '$>', data: {}, metadata: {} }] as never,
      'no_stream',
    );
    await system.command('PUT', '/v2/customer_sessions/late-start', { customerSession: {} });
    const run = await replay(['state', 'late-start', '--application', '1', '--at-revision', '0']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      /^session-replay: Session "late-start" did not exist yet at revision 0 \(created \S+Z at revision 1, after system events\)\.\n$/,
    );
  });

  it('a stream of system events only is no session, as GET says', async () => {
    await system.adapter.appendToStream(
      'session-1-links-only',
      [{ type: '$>', data: {}, metadata: {} }] as never,
      'any',
    );
    for (const command of ['history', 'state']) {
      const run = await replay([command, 'links-only', '--application', '1']);
      expect({ command, code: run.code, stderr: run.stderr }).toEqual({
        command,
        code: 2,
        stderr:
          'session-replay: No customer session "links-only" in application 1 (stream session-1-links-only).\n',
      });
    }
  });
});
