/**
 * `state --at`: a date-time without a zone is refused (it would name a different instant on every machine),
 * and the instant used is printed in UTC — in the table, and on stderr with --json, whose stdout stays
 * exactly what GET returns.
 */
import { ReplaySystem, INTEGRATION_KEY } from '../testing/replay-system';
import { replayCli, type CliRun } from '../testing/run-cli';

jest.setTimeout(60_000);

let system: ReplaySystem;
let replay: (args: string[]) => Promise<CliRun>;
let created: string;

beforeAll(async () => {
  system = await ReplaySystem.start({ backend: 'sqlite' });
  replay = replayCli(system.env());
  created = (await system.command('PUT', '/v2/customer_sessions/cart-1', { customerSession: {} })).body
    .customerSession.created;
  await new Promise((resolve) => setTimeout(resolve, 20));
  await system.command('POST', '/v2/customer_sessions/cart-1/close');
});

afterAll(async () => {
  await system?.stop();
});

describe('state --at', () => {
  it.each(['2025-03-01T12:00', '2025-03-01T12:00:00', '2025-03-01T12:00:00.250'])(
    'refuses %s (no time zone) with exit 2 and the accepted forms',
    async (time) => {
      const run = await replay(['state', 'cart-1', '-a', '1', '--at', time]);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(`--at ${time} has no time zone`);
      expect(run.stderr).toContain('2025-03-01T12:00:00Z or 2025-03-01T12:00:00+01:00');
      expect(run.stderr).toContain('2025-03-01 (read as 00:00 UTC)');
    },
  );

  it('prints the instant it used, in UTC, in the table', async () => {
    // The creation time written in another zone: +02:00, two hours later on the clock.
    const local = new Date(Date.parse(created) + 2 * 3600_000).toISOString().slice(0, 23);
    const run = await replay(['state', 'cart-1', '-a', '1', '--at', `${local}+02:00`]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('at revision 0 of 1');
    expect(run.stdout).toContain(`state at ${created} (--at ${local}+02:00)`);
  });

  it('says a bare date is read as 00:00 UTC', async () => {
    const tomorrow = new Date(Date.parse(created) + 86_400_000).toISOString().slice(0, 10);
    const run = await replay(['state', 'cart-1', '-a', '1', '--at', tomorrow]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      `state at ${tomorrow}T00:00:00.000Z (--at ${tomorrow}: a date, read as 00:00 UTC)`,
    );
  });

  it('with --json prints exactly what GET returns on stdout, and the instant on stderr', async () => {
    const get = await system.send('GET', '/v2/customer_sessions/cart-1', `ApiKey-v1 ${INTEGRATION_KEY}`);
    const at = new Date(Date.parse(created) + 3_600_000).toISOString();
    const run = await replay(['state', 'cart-1', '-a', '1', '--at', at, '--json']);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(JSON.stringify({ customerSession: get.body.customerSession }));
    expect(run.stderr).toBe(`session-1-cart-1 at ${at} (--at ${at}): revision 1 of 1\n`);
  });
});

describe('a session an operator deleted for good (tombstoned stream)', () => {
  it('history and state say so with exit 2, not an unexpected error', async () => {
    await system.command('PUT', '/v2/customer_sessions/erased-1', { customerSession: {} });
    await system.adapter.tombstoneStream('session-1-erased-1');
    for (const command of ['history', 'state']) {
      const run = await replay([command, 'erased-1', '-a', '1']);
      expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 2, stdout: '' });
      expect(run.stderr).toBe(
        'session-replay: Customer session "erased-1" in application 1 was deleted for good (stream ' +
          'session-1-erased-1 is tombstoned): its events can no longer be read.\n',
      );
    }
  });
});

describe('state --at-revision inside one command', () => {
  it('warns on stderr that no client saw that state, naming the command and its revisions; --json stays GET', async () => {
    await system.command('PUT', '/v2/customer_sessions/multi-1', { customerSession: {} });
    // One PUT, two changes: CouponCodesChanged and ReferralCodeChanged, revisions 1 and 2, one commandId.
    await system.command('PUT', '/v2/customer_sessions/multi-1', {
      customerSession: { couponCodes: ['A'], referralCode: 'R' },
    });
    const stored = await system.adapter.readStream('session-1-multi-1');
    expect(stored.map((e) => e.type)).toEqual([
      'SessionCreated',
      'CouponCodesChanged',
      'ReferralCodeChanged',
    ]);
    const commandId = String(stored[1].data.commandId);
    expect(stored[2].data.commandId).toBe(commandId);
    const warning =
      'session-replay: warning: revision 1 is inside one command: revisions 1..2 were written together by ' +
      `command "${commandId}" (one request), so no client ever saw the session at revision 1; the state the ` +
      'command left is at revision 2 (--at-revision 2)\n';

    const table = await replay(['state', 'multi-1', '-a', '1', '--at-revision', '1']);
    expect({ code: table.code, stderr: table.stderr }).toEqual({ code: 0, stderr: warning });
    expect(table.stdout).toContain('at revision 1 of 2');

    const json = await replay(['state', 'multi-1', '-a', '1', '--at-revision', '1', '--json']);
    expect({ code: json.code, stderr: json.stderr }).toEqual({ code: 0, stderr: warning });
    expect(Object.keys(json.json())).toEqual(['customerSession']);
    expect(json.json().customerSession).toMatchObject({ couponCodes: ['A'], referralCode: '' });

    for (const revision of ['0', '2']) {
      const whole = await replay(['state', 'multi-1', '-a', '1', '--at-revision', revision]);
      expect({ code: whole.code, stderr: whole.stderr }).toEqual({ code: 0, stderr: '' });
    }
  });
});

describe('money in the tables', () => {
  it('state and history print totals and prices exactly as the log holds them; --json stays GET', async () => {
    // 3 × 999999999999999.9 = 2999999999999999.7, which no JSON number holds: GET answers 2999999999999999.5.
    await system.command('PUT', '/v2/customer_sessions/big-money', {
      customerSession: {
        cartItems: [{ sku: 'bigfrac', quantity: 3, price: 999999999999999.9 }],
        additionalCosts: { fee: { price: 0.000001 } },
      },
    });
    const state = await replay(['state', 'big-money', '-a', '1']);
    expect(state.code).toBe(0);
    expect(state.stdout).toContain('2999999999999999.700001');
    expect(state.stdout).toContain('2999999999999999.7');
    expect(state.stdout).toContain('999999999999999.9');
    expect(state.stdout).not.toContain('2999999999999999.5');
    const history = await replay(['history', 'big-money', '-a', '1']);
    expect(history.code).toBe(0);
    expect(history.stdout).toContain('total 2999999999999999.700001');
    const json = await replay(['state', 'big-money', '-a', '1', '--json']);
    expect(JSON.parse(json.stdout).customerSession.total).toBe(2999999999999999.5);
  });
});

describe('the cart table', () => {
  it("shows each line's category, product, dimensions and attributes in a details column, only when one has any", async () => {
    await system.command('PUT', '/v2/customer_sessions/detailed', {
      customerSession: {
        cartItems: [
          {
            sku: 'shirt',
            quantity: 1,
            price: 10,
            category: 'apparel',
            product: { name: 'Oxford' },
            weight: 250,
            attributes: { colour: 'blue' },
          },
          { sku: 'plain', quantity: 2, price: 1 },
        ],
      },
    });
    const run = await replay(['state', 'detailed', '-a', '1']);
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines.find((line) => line.includes('│ pos'))).toContain('details');
    for (const detail of [
      'category: apparel',
      'product: Oxford',
      'weight: 250',
      'attributes: {"colour":"blue"}',
    ])
      expect(lines.some((line) => line.includes(detail))).toBe(true);

    await system.command('PUT', '/v2/customer_sessions/undetailed', {
      customerSession: { cartItems: [{ sku: 'plain', quantity: 1, price: 1 }] },
    });
    const plain = await replay(['state', 'undetailed', '-a', '1']);
    expect(plain.stdout).not.toContain('details');
  });
});
