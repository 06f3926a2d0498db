import { Backlog } from './backlog';

describe('Backlog', () => {
  it('counts what was delivered past the checkpoint, once, until it is committed', () => {
    const backlog = new Backlog(10n);
    backlog.delivered(5n, 'old'); // at or before the checkpoint: not lag
    expect(backlog.size).toBe(0);
    for (const p of [11n, 12n, 13n]) backlog.delivered(p, `t${p}`);
    expect(backlog).toMatchObject({ size: 3, head: 13n, oldestCreated: 't11' });

    // A failed batch is dropped and read again after resubscribing: counted once, and the head stays.
    for (const p of [11n, 12n]) backlog.delivered(p, `t${p}`);
    expect(backlog).toMatchObject({ size: 3, head: 13n });
    backlog.delivered(14n, 't14');
    expect(backlog.size).toBe(4);

    backlog.committed(12n);
    expect(backlog).toMatchObject({ size: 2, head: 14n, oldestCreated: 't13' });
    backlog.committed(11n); // never backwards
    expect(backlog.size).toBe(2);
    backlog.committed(20n); // another writer went further
    expect(backlog).toMatchObject({ size: 0, head: 20n, oldestCreated: undefined });
    backlog.delivered(15n, 't15');
    expect(backlog.size).toBe(0);
  });

  it('stays compact over a long catch-up', () => {
    const backlog = new Backlog(0n);
    for (let p = 1n; p <= 100_000n; p++) {
      backlog.delivered(p, undefined);
      if (p % 700n === 0n) backlog.committed(p - 300n);
    }
    expect(backlog.size).toBe(300 + (100_000 % 700));
    backlog.reset(7n);
    expect(backlog).toMatchObject({ size: 0, head: 7n });
  });
});
