/**
 * Text from the log on the auditor's terminal: session fields, integration ids, attribute keys, stream names
 * and event types hold whatever a client with an integration key (or a writer to the store) put there, ESC
 * sequences, CR, BS and bidi controls included. Every command shows them escaped — in tables, headings and
 * messages, top-level strings as nested ones — and keeps ordinary Unicode and the tables' column widths. JSON
 * (`--json`, export's NDJSON and its `--json` summary) is JSON of the same values, with what JSON.stringify
 * leaves raw (DEL, C1 and bidi controls, U+2028/9) written as `\uXXXX` escapes.
 */
import { EventStoreDBClient } from '@eventstore/db-client';
import { openReadModelDatabase } from '@session-engine/read-models';
import { sql } from 'kysely';
import { randomUUID } from 'node:crypto';
import stringWidth from 'string-width';
import { INTEGRATION_KEY, ReplaySystem } from '../testing/replay-system';
import { replayCli, type CliRun } from '../testing/run-cli';

jest.setTimeout(60_000);

const url = (id: string, suffix = '') => `/v2/customer_sessions/${encodeURIComponent(id)}${suffix}`;

/** What a terminal acts on or reorders text by; a newline ends a line of output and is the only one allowed. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

const ID = 'a\nb';
const REFERRAL = '\r\u001b[2K\u001b[1A\u001b[2KOK';
const STORE = 's\u0008\u0008X';
const PROFILE = '\u001b[31mRED\u001b[0m';
const SKU = 'tee\u001b[2J';
const NAME = 'T\u202eeht'; // shown reversed without the escape
/** DEL, C1 controls (U+009B is CSI on some terminals) and a line separator: JSON.stringify leaves them all raw. */
const CATEGORY = 'c\u007f\u0085\u009b2J\u2028';
const ATTRIBUTE = 'note\u2066';
const GONE = 'gone\u001b[2K\u202e';

/** The escaped forms the CLI shows (JSON's escapes, as nested values have always shown them). */
const SHOWN = {
  stream: 'session-1-a\\nb',
  referral: '\\r\\u001b[2K\\u001b[1A\\u001b[2KOK',
  store: 's\\b\\bX',
  profile: '\\u001b[31mRED\\u001b[0m',
  sku: 'tee\\u001b[2J',
  name: 'T\\u202eeht',
};

let system: ReplaySystem;
let replay: (args: string[], stdin?: string) => Promise<CliRun>;

/** No raw control character on either stream; every table's lines as wide as each other. */
function expectSafe(run: CliRun): void {
  expect(run.stdout).not.toMatch(RAW_CONTROL);
  expect(run.stderr).not.toMatch(RAW_CONTROL);
  const tables = run.stdout.match(/┌[^]*?┘/g) ?? [];
  for (const table of tables) {
    const widths = new Set(table.split('\n').map((line) => stringWidth(line)));
    expect({ table, widths: [...widths] }).toEqual({ table, widths: [widths.values().next().value] });
  }
}

beforeAll(async () => {
  system = await ReplaySystem.start({ backend: 'sqlite', projector: true });
  replay = replayCli(system.env());
  await system.command('PUT', url(ID), {
    customerSession: {
      profileId: PROFILE,
      storeIntegrationId: STORE,
      couponCodes: ['\u001b[2K'],
      attributes: { [ATTRIBUTE]: 'café 東京 😀' },
      cartItems: [{ sku: SKU, name: NAME, category: CATEGORY, quantity: 2, price: 19.99 }],
    },
  });
  await system.command('PUT', url(ID), { customerSession: { referralCode: REFERRAL } });
  await system.command('PUT', url(ID), {
    customerSession: { attributes: { [ATTRIBUTE]: 'bien sûr — 東京 👩‍👩‍👧' } },
  });
  await system.command('PUT', url(GONE), { customerSession: {} });
  await system.settle((await system.command('POST', url(ID, '/close'))).position);
});

afterAll(async () => {
  await system?.stop();
});

describe('history and state', () => {
  it('history: the heading and every top-level string escaped, nested ones as before', async () => {
    const run = await replay(['history', ID, '-a', '1']);
    expect(run.code).toBe(0);
    expectSafe(run);
    expect(run.stdout.startsWith(`${SHOWN.stream}: 4 event(s)\n`)).toBe(true);
    expect(run.stdout).toContain(`referralCode: "" → ${SHOWN.referral} `);
    expect(run.stdout).toContain(`storeIntegrationId: ∅ → ${SHOWN.store}`);
    expect(run.stdout).toContain(`profileId: ∅ → ${SHOWN.profile}`);
    expect(run.stdout).toContain(`integrationId: ∅ → a\\nb`);
    expect(run.stdout).toContain('couponCodes: ∅ → ["\\u001b[2K"]');
    expect(run.stdout).toContain('attributes: ∅ → {"note\\u2066":"café 東京 😀"}');
    expect(run.stdout).toContain('attributes["note\\u2066"]: café 東京 😀 → bien sûr — 東京 👩‍👩‍👧');
  });

  it('state: the heading, the fields and the cart escaped; accents, CJK and emoji kept', async () => {
    const run = await replay(['state', ID, '-a', '1']);
    expect(run.code).toBe(0);
    expectSafe(run);
    expect(run.stdout).toMatch(new RegExp(`^${SHOWN.stream.replace(/\\/g, '\\\\')} at revision 3 of 3 \\(`));
    for (const text of [SHOWN.referral, SHOWN.store, SHOWN.profile, SHOWN.sku, SHOWN.name])
      expect(run.stdout).toContain(text);
    expect(run.stdout).toContain(`{"note\\u2066":"bien sûr — 東京 👩‍👩‍👧"}`);
  });

  it('--json: the session as GET returns it once parsed (same fields, same order), nothing raw a terminal acts on', async () => {
    const get = await system.send('GET', url(ID), `ApiKey-v1 ${INTEGRATION_KEY}`);
    const state = await replay(['state', ID, '-a', '1', '--json']);
    expect(state.code).toBe(0);
    expectSafe(state);
    // Parsed, it is GET's body: same values, and (stringified again) same fields in the same order.
    expect(state.json()).toEqual({ customerSession: get.body.customerSession });
    expect(JSON.stringify(state.json())).toBe(JSON.stringify({ customerSession: get.body.customerSession }));
    expect(state.json().customerSession).toMatchObject({ referralCode: REFERRAL, integrationId: ID });
    expect(state.json().customerSession.cartItems[0]).toMatchObject({ name: NAME, category: CATEGORY });
    // What JSON.stringify leaves raw is a JSON escape; what it escapes itself, it escapes as before.
    expect(state.stdout).toContain('"name":"T\\u202eeht"');
    expect(state.stdout).toContain('"category":"c\\u007f\\u0085\\u009b2J\\u2028"');
    expect(state.stdout).toContain('"note\\u2066":"bien sûr — 東京 👩‍👩‍👧"');
    expect(state.stdout).toContain(JSON.stringify(REFERRAL));
    expect(state.stdout.split('\n')).toEqual([expect.any(String), '']);

    const history = await replay(['history', ID, '-a', '1', '--json']);
    expect(history.code).toBe(0);
    expectSafe(history);
    expect(history.json().stream).toBe(`session-1-${ID}`);
    expect(history.stdout).toContain(JSON.stringify(REFERRAL));
    expect(JSON.stringify(history.json())).toContain(JSON.stringify(CATEGORY).slice(1, -1));
    const digest = await replay(['digest', ID, '-a', '1', '--json']);
    expect(digest.code).toBe(0);
    expectSafe(digest);
  });

  it('digest: the stream name escaped', async () => {
    const run = await replay(['digest', ID, '-a', '1']);
    expect(run.code).toBe(0);
    expectSafe(run);
    expect(run.stdout).toContain(SHOWN.stream);
  });

  it('messages quoting an id from the command line escape it', async () => {
    const unknown = await replay(['history', `x${REFERRAL}`, '-a', '1']);
    expect(unknown.code).toBe(2);
    expectSafe(unknown);
    expect(unknown.stderr).toBe(
      `session-replay: No customer session "x${SHOWN.referral}" in application 1 (stream session-1-x${SHOWN.referral}).\n`,
    );
    const revision = await replay(['state', ID, '-a', '1', '--at-revision', '9']);
    expect(revision.code).toBe(2);
    expectSafe(revision);
    expect(revision.stderr).toBe(
      'session-replay: Session "a\\nb" has revisions 0..3; there is no revision 9.\n',
    );
    const usage = await replay(['histroy\u001b[2K']);
    expect(usage.code).toBe(2);
    expectSafe(usage);
    expect(usage.stderr).toContain('histroy\\u001b[2K');
  });
});

describe('verify', () => {
  it('a mismatch names the row and the field, and shows both values, escaped', async () => {
    await system.projector!.stop();
    const database = await openReadModelDatabase({ dataDir: system.dataDir, migrate: false });
    try {
      const stream = `session-1-${ID}`;
      const [row] = (
        await sql<{
          session_json: string;
        }>`select session_json from sessions where stream_id = ${stream}`.execute(database.db)
      ).rows;
      const session = JSON.parse(row.session_json);
      session.attributes[ATTRIBUTE] = 'forged\u001b[8m';
      await sql`update sessions set referral_code = ${'\u001b[2Kforged'}, session_json = ${JSON.stringify(session)} where stream_id = ${stream}`.execute(
        database.db,
      );
      await sql`update customer_profiles set session_count = 7 where profile_id = ${PROFILE}`.execute(
        database.db,
      );
    } finally {
      await database.close();
    }
    const run = await replay(['verify']);
    expect(run.code).toBe(1);
    expectSafe(run);
    expect(run.stdout).toContain(SHOWN.stream);
    expect(run.stdout).toContain(SHOWN.referral);
    expect(run.stdout).toContain('\\u001b[2Kforged');
    expect(run.stdout).toContain('session_json.attributes["note\\u2066"]');
    expect(run.stdout).toContain('forged\\u001b[8m');
    expect(run.stdout).toContain(SHOWN.profile);
    const json = await replay(['verify', '--json']);
    expectSafe(json);
    expect(json.json().mismatches).toContainEqual(
      expect.objectContaining({ field: 'referral_code', expected: REFERRAL, found: '\u001b[2Kforged' }),
    );
  });
});

describe('export and import', () => {
  let exported: string;

  it('export: a stream left out is named escaped', async () => {
    const raw = EventStoreDBClient.connectionString(system.store.connectionString);
    try {
      await raw.deleteStream(`session-1-${GONE}`);
    } finally {
      await raw.dispose();
    }
    const run = await replay(['export']);
    exported = run.stdout;
    expect(run.code).toBe(0);
    expect(run.stderr).not.toMatch(RAW_CONTROL);
    expect(run.stderr).toContain(
      'session-replay: export: session-1-gone\\u001b[2K\\u202e was left out: the stream is deleted',
    );
    // The export itself is NDJSON of the same values, and a file an auditor may `cat`: nothing raw in it
    // either (import reads it back below).
    expect(exported).not.toMatch(RAW_CONTROL);
    expect(exported).toContain(JSON.stringify(`session-1-${ID}`));
    expect(exported).toContain('"category":"c\\u007f\\u0085\\u009b2J\\u2028"');
    const line = exported
      .split('\n')
      .find((l) => l.startsWith(`{"stream":${JSON.stringify(`session-1-${ID}`)}`))!;
    expect(JSON.parse(line).events[0].data.cartItems[0]).toMatchObject({ name: NAME, category: CATEGORY });
    // --json: the summary on stderr is JSON naming the stream left out, its bidi override escaped as JSON.
    const summary = await replay(['export', '--json']);
    expect(summary.code).toBe(0);
    expectSafe(summary);
    expect(summary.stderr).toContain('"stream":"session-1-gone\\u001b[2K\\u202e"');
    expect(JSON.parse(summary.stderr).leftOut).toEqual([{ stream: `session-1-${GONE}`, reason: 'deleted' }]);
  });

  it('import: stream names, event types and the banner-like lines it quotes are escaped', async () => {
    const lines = exported.trimEnd().split('\n');
    const header = JSON.parse(lines[0]);
    const empty = JSON.stringify({ stream: `session-1-old${REFERRAL}`, events: [] });
    const edited = lines.find((l) => l.startsWith(`{"stream":${JSON.stringify(`session-1-${ID}`)}`))!;
    const tampered = edited.replace('"quantity":2', '"quantity":3');
    expect(tampered).not.toBe(edited);
    const file = [
      JSON.stringify({ ...header, streams: header.streams + 2 }),
      ...lines.slice(1),
      empty,
      tampered,
    ];
    const run = await replay(['import'], `${file.join('\n')}\n`);
    expect(run.code).toBe(1);
    expectSafe(run);
    expect(run.stderr).toContain(`session-1-old${SHOWN.referral} has no events`);
    expect(run.stdout).toContain(`digest mismatch: ${SHOWN.stream} (`);

    const event = JSON.parse(lines[1]).events[0];
    const badType = JSON.stringify({
      stream: `session-1-${ID}`,
      events: [{ ...event, type: 'Evil\u001b]0;title\u0007' }],
    });
    const refused = await replay(['import'], `${lines[0]}\n${badType}\n`);
    expect(refused.code).toBe(2);
    expectSafe(refused);
    expect(refused.stderr).toContain(
      `session-replay: line 2 (${SHOWN.stream}): event 0 has type "Evil\\u001b]0;title\\u0007", which is not`,
    );
    // The refusal is one line, what was done before it another.
    expect(refused.stderr.trimEnd().split('\n')).toHaveLength(2);
  });

  it('import: a first line of JSON that is no object is said to be JSON, of its kind', async () => {
    for (const [text, kind] of [
      ['[]', 'an array'],
      ['42', 'a number'],
      ['"x"', 'a string'],
      ['null', 'null'],
    ]) {
      const run = await replay(['import'], `${text}\n`);
      expect({ text, code: run.code }).toEqual({ text, code: 2 });
      expect(run.stderr).toMatch(
        new RegExp(
          `^session-replay: line 1: not an export — .*; this line is valid JSON, but ${kind}, not an object\\n$`,
        ),
      );
    }
  });
});

describe('an event this CLI cannot read', () => {
  it('names the stream and the event type escaped, in one line', async () => {
    const [created] = await system.adapter.readStream(`session-1-${ID}`);
    const stream = `session-1-evil${PROFILE}`;
    const outcome = await system.adapter.appendToStream(
      stream,
      [
        {
          id: randomUUID(),
          type: 'SessionCreated',
          data: { ...created.data, integrationId: `evil${PROFILE}` },
          metadata: { schemaVersion: 1 },
        },
        { id: randomUUID(), type: 'Evil\u001b[2J\r', data: { at: created.data.at }, metadata: {} },
      ] as never,
      'no_stream',
    );
    const run = await replay(['history', `evil${PROFILE}`, '-a', '1']);
    expect(run.code).toBe(2);
    expectSafe(run);
    expect(run.stderr).toBe(
      `session-replay: session-1-evil${SHOWN.profile} revision 1 (log position ${outcome.position}): event type ` +
        '"Evil\\u001b[2J\\r" is not a session event type this CLI knows: written by a newer version of the engine? ' +
        'Upgrade the CLI\n',
    );
  });
});
