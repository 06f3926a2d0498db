/**
 * `erase`: a data subject's erasure request. One pass over the log finds every stream that holds what the engine
 * knows of the subject — the session streams that name the profile (created with it, changed to it or from it),
 * that carry one of the given identifiers or loyalty cards, or that were named by integration id; the profile's
 * first-session claim stream; and the idempotency records of those sessions (a keyed no-op's record names its
 * session; records of earlier releases held a copy of the response) — and prints them. With `--yes` it tombstones
 * them, sessions first, then records, then profile streams: each can never be read or written again, and its
 * events leave the log at the next scavenge. A session that also names another profile (changed from one
 * customer to another) is left alone unless `--include-shared`: erasing it erases the other customer's session
 * too. Streams already tombstoned count as erased, so running it again after an interruption (or to catch a
 * session written meanwhile) is safe. What happens after — the scavenge, the read models, the files — is in
 * docs/operations.md, "Erasure requests".
 *
 * Exit codes: 0 the plan printed, or every stream found erased (also when none was found); 1 a shared session was
 * left alone; 2 the command could not run (bad flags, the store unreachable).
 */
import { StreamTombstonedError, type EsdbClientAdapter } from '@session-engine/event-store';
import { sessionStreamParts } from '@session-engine/read-models';
import { CliError, EXIT } from '../cli-error';
import type { Connections } from '../connections';
import { printJson, printTable, progressCounter, type CliIo, type OutputOptions } from '../io';
import { printable, quoted } from '../printable';

export interface EraseOptions extends OutputOptions {
  /**
   * Profile ids and integration ids are per application: the same id in another application is another
   * customer, whose streams an erasure must not touch.
   */
  application: number;
  profile?: string[];
  session?: string[];
  identifier?: string[];
  includeShared?: boolean;
  yes?: boolean;
}

type Kind = 'idempotency record' | 'session' | 'profile';
type Outcome = 'to erase' | 'erased' | 'already erased' | 'left: shared';

export interface ErasedStream {
  stream: string;
  kind: Kind;
  applicationId: number;
  events: number;
  lastWritten: string;
  /** Why it was found: `profile <id>`, `identifier <value>`, `session` (named), `record of <session stream>`. */
  foundBy: string[];
  /** Other profiles a session names: erasing it erases their session too. */
  alsoNames: string[];
  outcome: Outcome;
}

interface Seen {
  applicationId: number;
  events: number;
  lastWritten: string;
}

interface SeenSession extends Seen {
  integrationId: string;
  profiles: Set<string>;
  identifiers: Set<string>;
}

interface SeenRecord extends Seen {
  session: string;
}

const PROFILE_STREAM = /^profile-(\d+)-(.+)$/s;
const RECORD_STREAM = /^idempotency-(\d+)-/;
/**
 * Sessions first: once tombstoned, no command can add a record for them (a keyed no-op on an erased session is
 * 404), so the records looked for after them (again, see `eraseCommand`) are all there are.
 */
const KIND_ORDER: Kind[] = ['session', 'idempotency record', 'profile'];

const byKindAndName = (a: ErasedStream, b: ErasedStream) =>
  KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) ||
  (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0);

export async function eraseCommand(
  io: CliIo,
  connections: Connections,
  options: EraseOptions,
): Promise<number> {
  const profiles = new Set(options.profile ?? []);
  const identifiers = new Set(options.identifier ?? []);
  const named = new Set(options.session ?? []);
  if (profiles.size + identifiers.size + named.size === 0)
    throw new CliError(
      'Name whom to erase: --profile <profileId>, --identifier <value> or --session <integrationId>.',
    );
  if ([...profiles, ...identifiers, ...named].some((value) => value === ''))
    throw new CliError('--profile, --identifier and --session take a non-empty value.');
  const { client } = await connections.eventStore();
  const shown: OutputOptions = options.json && !io.stderr.isTTY ? { ...options, progress: false } : options;

  const { sessions, profileStreams, records } = await scan(io, client, shown, options.application);
  const found: ErasedStream[] = [];
  /** The sessions found, erased or left: their records share their outcome. */
  const foundSessions = new Map<string, ErasedStream>();
  for (const [stream, seen] of sessions) {
    const foundBy: string[] = [];
    for (const profile of seen.profiles) if (profiles.has(profile)) foundBy.push(`profile ${profile}`);
    for (const value of seen.identifiers) if (identifiers.has(value)) foundBy.push(`identifier ${value}`);
    const isNamed = named.has(seen.integrationId);
    if (isNamed) foundBy.push('session');
    if (foundBy.length === 0) continue;
    const alsoNames = [...seen.profiles].filter((profile) => !profiles.has(profile)).sort();
    const shared = alsoNames.length > 0 && !isNamed && !options.includeShared;
    const entry: ErasedStream = {
      stream,
      kind: 'session',
      ...seenOf(seen),
      foundBy,
      alsoNames,
      outcome: shared ? 'left: shared' : 'to erase',
    };
    found.push(entry);
    foundSessions.set(stream, entry);
  }
  for (const [stream, seen] of profileStreams) {
    const profile = PROFILE_STREAM.exec(stream)![2]!;
    if (!profiles.has(profile)) continue;
    found.push({
      stream,
      kind: 'profile',
      ...seenOf(seen),
      foundBy: [`profile ${profile}`],
      alsoNames: [],
      outcome: 'to erase',
    });
  }
  const recordsOf = (seenRecords: Map<string, SeenRecord>, known: Set<string>): ErasedStream[] => {
    const entries: ErasedStream[] = [];
    for (const [stream, seen] of seenRecords) {
      const session = foundSessions.get(seen.session);
      if (session === undefined || known.has(stream)) continue;
      entries.push({
        stream,
        kind: 'idempotency record',
        ...seenOf(seen),
        foundBy: [`record of ${seen.session}`],
        alsoNames: session.alsoNames,
        outcome: session.outcome === 'left: shared' ? 'left: shared' : 'to erase',
      });
    }
    return entries;
  };
  found.push(...recordsOf(records, new Set()));
  found.sort(byKindAndName);

  if (!options.yes) {
    // Tombstoned before (an earlier run, or an operator): its events stay in `$all` until a scavenge. (With
    // --yes the tombstone itself says so: `tombstoneAll` counts it as already erased.)
    for (const entry of found) {
      if (entry.outcome === 'to erase' && (await tombstoned(client, entry.stream)))
        entry.outcome = 'already erased';
    }
  } else {
    await tombstoneAll(io, client, shown, found, async () => {
      // A keyed no-op on one of the sessions between the first pass and its tombstone wrote a record the first
      // pass did not see: the records are looked for once more, now that no more can be written.
      const again = await scan(io, client, shown, options.application, ['idempotency-']);
      return recordsOf(again.records, new Set(found.map((entry) => entry.stream)));
    });
    found.sort(byKindAndName);
  }

  const left = found.filter((entry) => entry.outcome === 'left: shared');
  const pending = found.filter((entry) => entry.outcome === 'to erase');
  if (options.json) {
    printJson(io, {
      erased: options.yes === true,
      streams: found,
      counts: {
        erased: found.filter((entry) => entry.outcome === 'erased').length,
        alreadyErased: found.filter((entry) => entry.outcome === 'already erased').length,
        toErase: pending.length,
        left: left.length,
      },
    });
  } else if (found.length > 0) {
    printTable(
      io,
      ['stream', 'kind', 'events', 'last written', 'found by', 'outcome'],
      found.map((entry) => [
        printable(entry.stream),
        entry.kind,
        entry.events,
        entry.lastWritten,
        entry.foundBy.map(printable),
        entry.alsoNames.length > 0
          ? [entry.outcome, `also names ${entry.alsoNames.map(quoted).join(', ')}`]
          : entry.outcome,
      ]),
    );
  }
  io.stderr.write(summary(found, options, pending.length, left.length));
  return left.length > 0 ? EXIT.findings : EXIT.ok;
}

function seenOf(seen: Seen): Pick<ErasedStream, 'applicationId' | 'events' | 'lastWritten'> {
  return { applicationId: seen.applicationId, events: seen.events, lastWritten: seen.lastWritten };
}

/** One pass over the application's streams of these kinds (by default, session, profile and idempotency). */
async function scan(
  io: CliIo,
  client: EsdbClientAdapter,
  shown: OutputOptions,
  application: number,
  kinds = ['session-', 'profile-', 'idempotency-'],
) {
  const sessions = new Map<string, SeenSession>();
  const profileStreams = new Map<string, Seen>();
  const records = new Map<string, SeenRecord>();
  const prefixes = kinds.map((prefix) => `${prefix}${application}-`);
  const progress = progressCounter(io, shown, 'erase: reading the log', 'events');
  let read = 0;
  try {
    for await (const event of client.readAll({ prefixes })) {
      progress.update(++read);
      const stream = event.streamName;
      const data = event.data as Record<string, unknown>;
      const session = sessionStreamParts(stream);
      if (session !== undefined) {
        let seen = sessions.get(stream);
        if (seen === undefined) {
          seen = { ...session, events: 0, lastWritten: '', profiles: new Set(), identifiers: new Set() };
          sessions.set(stream, seen);
        }
        count(seen, event.created);
        for (const field of ['profileId', 'previousProfileId'])
          if (typeof data[field] === 'string' && data[field] !== '') seen.profiles.add(data[field]);
        for (const field of ['identifiers', 'loyaltyCards']) {
          const values = data[field];
          if (Array.isArray(values))
            for (const value of values) if (typeof value === 'string') seen.identifiers.add(value);
        }
        continue;
      }
      const profile = PROFILE_STREAM.exec(stream);
      if (profile !== null) {
        const seen = profileStreams.get(stream) ?? {
          applicationId: Number(profile[1]),
          events: 0,
          lastWritten: '',
        };
        profileStreams.set(stream, count(seen, event.created));
        continue;
      }
      const record = RECORD_STREAM.exec(stream);
      const scope = data.scope as { applicationId?: unknown; integrationId?: unknown } | undefined;
      if (record === null || typeof scope?.integrationId !== 'string') continue;
      const seen = records.get(stream) ?? {
        applicationId: Number(record[1]),
        events: 0,
        lastWritten: '',
        session: `session-${record[1]}-${scope.integrationId}`,
      };
      records.set(stream, count(seen, event.created));
    }
  } finally {
    progress.stop();
  }
  return { sessions, profileStreams, records };
}

function count<T extends Seen>(seen: T, created: string): T {
  seen.events++;
  if (created > seen.lastWritten) seen.lastWritten = created;
  return seen;
}

async function tombstoned(client: EsdbClientAdapter, stream: string): Promise<boolean> {
  try {
    await client.readStream(stream, { maxCount: 1 });
    return false;
  } catch (error) {
    if (error instanceof StreamTombstonedError) return true;
    throw error;
  }
}

/**
 * Tombstones the streams to erase, in the table's order (sessions, records, profiles); once the sessions are,
 * `moreRecords` finds the records written since the first pass, which are tombstoned with the others. What was
 * done is said when a signal or a failure ends it half-way.
 */
async function tombstoneAll(
  io: CliIo,
  client: EsdbClientAdapter,
  shown: OutputOptions,
  found: ErasedStream[],
  moreRecords: () => Promise<ErasedStream[]>,
): Promise<void> {
  const done = () => found.filter((entry) => entry.outcome === 'erased').length;
  const todo = () =>
    found.filter((entry) => entry.outcome === 'to erase' || entry.outcome === 'erased').length;
  const halfWay = (why: string) =>
    `session-replay: ${why}: ${done()} of the ${todo()} stream(s) to erase were tombstoned. Run the same erase ` +
    'again to finish — before the next scavenge removes the sessions erased so far from the log — it counts ' +
    'those as erased.\n';
  const forget = io.interruption?.atExit((signal) => io.stderr.write(halfWay(`interrupted by ${signal}`)));
  const progress = progressCounter(io, shown, 'erase: tombstoning', 'streams');
  const tombstone = async (entries: ErasedStream[]) => {
    for (const entry of entries) {
      if (entry.outcome !== 'to erase') continue;
      try {
        await client.tombstoneStream(entry.stream);
        entry.outcome = 'erased';
      } catch (error) {
        if (!(error instanceof StreamTombstonedError)) throw error;
        entry.outcome = 'already erased';
      }
      progress.update(done());
    }
  };
  try {
    await tombstone(found.filter((entry) => entry.kind === 'session'));
    found.push(...(await moreRecords()));
    await tombstone(found.filter((entry) => entry.kind !== 'session').sort(byKindAndName));
  } catch (error) {
    progress.stop();
    io.stderr.write(halfWay('stopped by an error'));
    throw error;
  } finally {
    progress.stop();
    forget?.();
  }
}

function summary(found: ErasedStream[], options: EraseOptions, pending: number, left: number): string {
  const whom = [
    ...(options.profile ?? []).map((profile) => `profile ${quoted(profile)}`),
    ...(options.identifier ?? []).map((value) => `identifier ${quoted(value)}`),
    ...(options.session ?? []).map((id) => `session ${quoted(id)}`),
  ].join(', ');
  if (found.length === 0)
    return `No stream of application ${options.application} holds ${whom}: nothing to erase.\n`;
  const lines: string[] = [];
  if (left > 0)
    lines.push(
      `${left} stream(s) left alone: each session also names a profile not given with --profile — another ` +
        "customer's, whose session erasing it would erase too, or this customer's own under another id. Add " +
        'that --profile if it is the same customer, erase a session by --session, or add --include-shared.',
    );
  if (!options.yes) {
    lines.push(
      pending > 0
        ? `Nothing was erased: run the same command with --yes to tombstone the ${pending} stream(s) marked "to erase".`
        : 'Nothing left to erase.',
    );
  } else {
    lines.push(
      'The streams erased can no longer be read or written. The projector removes the erased sessions and ' +
        'profiles from the read models when it reaches their tombstones (its usual lag); the daily and SKU ' +
        'analytics keep counting them. Their events leave the log at the next scavenge (the embedded store ' +
        'scavenges hourly; on EventStoreDB, start one); a `session-replay rebuild` after it recomputes the ' +
        'analytics without them: see docs/operations.md, "Erasure requests".',
    );
  }
  return lines.map((line) => `${line}\n`).join('');
}
