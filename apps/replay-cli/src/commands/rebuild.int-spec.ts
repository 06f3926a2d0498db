/**
 * rebuild while the read models are behind the log (the projector stopped, or not caught up yet): it rebuilds
 * them up to their checkpoints, never beyond, and the command returns with its result. It runs in this process
 * on purpose: the CLI's own process leaves even when the command never returns, once nothing else keeps it
 * alive (on PostgreSQL 10 s later, when the pool's idle connections close), with exit code 0 whatever the
 * result — which is how a rebuild stuck closing its event-store client went unnoticed.
 */
import { ReplaySystem } from '../testing/replay-system';
import { replayCli, type CliRun } from '../testing/run-cli';

jest.setTimeout(60_000);

const url = (id: string, suffix = '') => `/v2/customer_sessions/${encodeURIComponent(id)}${suffix}`;

/** The run, or a failure saying it did not return (instead of the suite's timeout). */
async function within(ms: number, run: Promise<CliRun>): Promise<CliRun> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`replay rebuild did not return within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([run, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe.each(['sqlite', 'postgres'] as const)(
  'rebuild while the read models are behind the log (%s)',
  (backend) => {
    let system: ReplaySystem;
    let checkpoint: string;

    beforeAll(async () => {
      system = await ReplaySystem.start({ backend, projector: true });
      let last: string | null = null;
      for (let i = 0; i < 3; i++) {
        await system.command('PUT', url(`a${i}`), {
          customerSession: { profileId: 'p0', cartItems: [{ sku: 'tee', quantity: 1, price: 10 }] },
        });
        last = (await system.command('POST', url(`a${i}`, '/close'))).position;
      }
      await system.settle(last);
      checkpoint = last!;
      await system.projector!.stop();
      // Three events the read models have not seen: the log is ahead of every checkpoint.
      for (let i = 0; i < 3; i++) {
        await system.command('PUT', url(`b${i}`), {
          customerSession: { profileId: 'p1', cartItems: [{ sku: 'cap', quantity: 2, price: 5 }] },
        });
      }
    });

    afterAll(async () => {
      await system?.stop();
    });

    it('rebuilds up to the checkpoints, returns, and leaves them consistent and as far behind as before', async () => {
      const replay = replayCli(system.env());
      const run = await within(20_000, replay(['rebuild', '--json']));
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.json()).toMatchObject({
        events: 6,
        caughtUpUnderLock: 0,
        checkpoints: {
          sessions: checkpoint,
          customer_profiles: checkpoint,
          daily_analytics: checkpoint,
          sku_analytics: checkpoint,
        },
      });

      const verify = await within(20_000, replay(['verify', '--json']));
      expect(verify.code).toBe(0);
      expect(verify.json()).toMatchObject({
        ok: true,
        mismatches: [],
        behind: { sessions: 3, customer_profiles: 3, daily_analytics: 3, sku_analytics: 3 },
      });
    });

    it('a second rebuild returns too (the first one released its lock and closed its reads)', async () => {
      const run = await within(20_000, replayCli(system.env())(['rebuild', '--projection', 'sku_analytics']));
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('sku_analytics');
    });
  },
);
