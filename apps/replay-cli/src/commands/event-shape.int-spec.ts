/**
 * Events whose fields every reader relies on are not what the engine writes — a `SessionCreated` of another
 * session or with an integration id that is not a string, an event without a valid time `at` or without a
 * `commandId` — appended straight through the adapter: history and state refuse them as they refuse an event
 * they cannot fold (exit 2, one line naming the stream, the revision, the log position and what is wrong), the
 * same reason import gives; an event before them still answers.
 */
import { randomUUID } from 'node:crypto';
import { ReplaySystem } from '../testing/replay-system';
import { replayCli, type CliRun } from '../testing/run-cli';

jest.setTimeout(60_000);

let system: ReplaySystem;
let replay: (args: string[]) => Promise<CliRun>;
/** The valid SessionCreated of `session-1-cart-1`, to copy from. */
let created: Record<string, unknown>;
/** Log position of each appended stream's last event. */
const last: Record<string, bigint> = {};

function expectOneLine(run: CliRun, line: string): void {
  expect({ code: run.code, stdout: run.stdout, stderr: run.stderr }).toEqual({
    code: 2,
    stdout: '',
    stderr: `session-replay: ${line}\n`,
  });
}

async function append(integrationId: string, events: { type: string; data: object }[]): Promise<void> {
  const outcome = await system.adapter.appendToStream(
    `session-1-${integrationId}`,
    events.map((e) => ({ id: randomUUID(), metadata: { schemaVersion: 1 }, ...e })) as never,
    'no_stream',
  );
  last[integrationId] = outcome.position!;
}

beforeAll(async () => {
  system = await ReplaySystem.start({ backend: 'sqlite' });
  replay = replayCli(system.env());
  await system.command('PUT', '/v2/customer_sessions/cart-1', { customerSession: { profileId: 'alice' } });
  created = (await system.adapter.readStream('session-1-cart-1'))[0].data;
  const later = new Date(Date.parse(String(created.at)) + 1000).toISOString();
  const closed = (data: object) => ({
    type: 'SessionClosed',
    data: { at: later, commandId: 'c2', profileId: 'alice', total: '0', items: [], ...data },
  });
  const createdAs = (integrationId: unknown, data: object = {}) => ({
    type: 'SessionCreated',
    data: { ...created, integrationId, ...data },
  });
  await append('numeric', [createdAs(42)]);
  await append('copied', [createdAs('cart-1')]);
  await append('no-time', [createdAs('no-time'), closed({ at: 'yesterday' })]);
  await append('no-command', [createdAs('no-command'), closed({ commandId: undefined })]);
  await append('fine', [createdAs('fine'), closed({})]);
});

afterAll(async () => {
  await system?.stop();
});

describe('history and state refuse an event whose fields the CLI relies on are not what the engine writes', () => {
  it('a SessionCreated whose integration id is not a string', async () => {
    const line =
      `session-1-numeric revision 0 (log position ${last.numeric}): The data of SessionCreated v1 does not have ` +
      'the shape of its type: integrationId is not a string';
    expectOneLine(await replay(['history', 'numeric', '-a', '1']), line);
    expectOneLine(await replay(['state', 'numeric', '-a', '1', '--json']), line);
  });

  it("a SessionCreated of another session (a stream copied under another's name)", async () => {
    const line =
      `session-1-copied revision 0 (log position ${last.copied}): SessionCreated is of application 1, ` +
      'session "cart-1", but the stream is session-1-copied (application 1, session "copied"): a stream copied ' +
      'or renamed? The engine reads a session only under the stream name its own events carry';
    expectOneLine(await replay(['history', 'copied', '-a', '1', '--json']), line);
    expectOneLine(await replay(['state', 'copied', '-a', '1']), line);
  });

  it('an event without a valid time; the state before it still answers', async () => {
    const line =
      `session-1-no-time revision 1 (log position ${last['no-time']}): SessionClosed has no valid time "at" ` +
      '(a UTC time as the engine writes it, such as 2026-03-01T12:00:00.000Z): "yesterday"';
    expectOneLine(await replay(['history', 'no-time', '-a', '1']), line);
    expectOneLine(await replay(['state', 'no-time', '-a', '1']), line);
    // --at cannot tell whether a time that is none is before the instant: refused too.
    expectOneLine(await replay(['state', 'no-time', '-a', '1', '--at', String(created.at)]), line);
    const before = await replay(['state', 'no-time', '-a', '1', '--at-revision', '0', '--json']);
    expect(before.code).toBe(0);
    expect(before.json().customerSession).toMatchObject({ integrationId: 'no-time', state: 'open' });
  });

  it('an event without a commandId', async () => {
    expectOneLine(
      await replay(['history', 'no-command', '-a', '1']),
      `session-1-no-command revision 1 (log position ${last['no-command']}): SessionClosed has no commandId`,
    );
  });

  it('a stream written so, with the fields the engine writes, is read as any other', async () => {
    const run = await replay(['state', 'fine', '-a', '1', '--json']);
    expect(run.code).toBe(0);
    expect(run.json().customerSession).toMatchObject({
      integrationId: 'fine',
      state: 'closed',
      updateCount: 2,
    });
  });
});
