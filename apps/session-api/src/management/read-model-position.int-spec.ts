/**
 * `minPosition` waits against real SQLite read models: the requests waiting on one database share its polls.
 */
import { ReadModelQueries, ReadModelWriter, type ReadModelDatabase } from '@session-engine/read-models';
import {
  sqliteTestDatabase,
  type TestDatabase,
} from '../../../../libs/read-models/src/testing/test-databases';
import { within } from '@session-engine/testing';
import { ApiError } from '../errors/api-error';
import { awaitReadModels, ReadModelPositionWaits } from './read-model-position';

let database: TestDatabase;
let opened: ReadModelDatabase;
let queries: ReadModelQueries;
let polls: number;
/** The read models' queries, counting the position polls. */
let counted: Pick<ReadModelQueries, 'processedPosition'>;

beforeEach(async () => {
  database = sqliteTestDatabase();
  opened = await database.open();
  queries = new ReadModelQueries(opened.db);
  polls = 0;
  counted = {
    processedPosition: () => {
      polls++;
      return queries.processedPosition();
    },
  };
});

afterEach(async () => {
  await opened.close();
  await database.drop();
});

const pollsReach = async (count: number): Promise<void> => {
  while (polls < count) await new Promise((resolve) => setTimeout(resolve, 1));
};

describe('requests waiting for minPosition', () => {
  it('are served by one poll of the position for all of them, and all answered once it is reached', async () => {
    const waits = new ReadModelPositionWaits(counted, 10);
    let answered = 0;
    const waiting = Array.from({ length: 500 }, () => waits.reached(40n, 60_000).then(() => answered++));
    await pollsReach(3);
    expect(answered).toBe(0);
    const writer = await ReadModelWriter.open(opened.db);
    await writer.apply([], 40n);
    await Promise.all(waiting);
    expect(answered).toBe(500);
    // One poll each round (a poll per request made it 500 a round); the rounds after the commit are at most two.
    expect(polls).toBeLessThanOrEqual(5);
  });

  it('answer NOT_READY with the position reached once their own time is up, the others still waiting', async () => {
    const waits = new ReadModelPositionWaits(counted, 10);
    const writer = await ReadModelWriter.open(opened.db);
    await writer.apply([], 7n);
    const impatient = waits.reached(9n, 0).catch((error: unknown) => error);
    const patient = waits.reached(8n, 60_000);
    const refusal = await impatient;
    expect(refusal).toBeInstanceOf(ApiError);
    expect(refusal).toMatchObject({
      status: 503,
      message: 'The read models have processed position 7, not yet 9; retry later',
    });
    await writer.apply([], 8n);
    await expect(patient).resolves.toBeUndefined();
  });

  it('fail together when the read models cannot be read, and a later wait polls anew', async () => {
    const waits = new ReadModelPositionWaits(counted, 10);
    const waiting = [waits.reached(5n, 60_000), waits.reached(6n, 60_000)];
    await pollsReach(1);
    await opened.close();
    for (const wait of waiting) await expect(wait).rejects.toThrow(/database connection is not open/);
    opened = await database.open();
    queries = new ReadModelQueries(opened.db);
    await (await ReadModelWriter.open(opened.db)).apply([], 6n);
    await expect(waits.reached(6n, 60_000)).resolves.toBeUndefined();
  });

  it('answer a position already reached at once, even while the shared poll is stuck on a slow read', async () => {
    await (await ReadModelWriter.open(opened.db)).apply([], 3n);
    let reads = 0;
    let release: () => void = () => undefined;
    // The second read (the shared poll's first) hangs until released; every other read answers.
    const reading = new Proxy(queries, {
      get: (target, name, receiver) =>
        name === 'processedPosition'
          ? () =>
              ++reads === 2
                ? new Promise<void>((resolve) => (release = resolve)).then(() => target.processedPosition())
                : target.processedPosition()
          : Reflect.get(target, name, receiver),
    });
    const stuck = awaitReadModels(reading, '1000', 1).catch((error: unknown) => error);
    while (reads < 2) await new Promise((resolve) => setTimeout(resolve, 1));
    try {
      const answer = await within(
        awaitReadModels(reading, '2', 60_000).then(() => 'reached'),
        5_000,
        'still waiting for the shared poll',
      );
      expect(answer).toBe('reached');
    } finally {
      release();
    }
    expect(await stuck).toMatchObject({ status: 503 });
  });
});
