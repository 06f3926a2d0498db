/**
 * `session-replay <command>`: audit tooling over the event log and the read models (SPEC §7).
 * Exit codes: 0 fine, 1 the audit found something (verify mismatches, import conflicts), 2 the command
 * could not run (bad flags, unknown session, store not reachable, data this CLI cannot read), 130 / 143
 * interrupted by SIGINT / SIGTERM. A refusal is one line on stderr; only an unexpected error (a bug) prints
 * its stack trace, and only when DEBUG is set.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parseAtTime, type AtTime } from './at-time';
import { CliError, EXIT, StdoutClosedError } from './cli-error';
import { digestCommand } from './commands/digest';
import { eraseCommand } from './commands/erase';
import { historyCommand } from './commands/history';
import { rebuildCommand } from './commands/rebuild';
import { stateCommand } from './commands/state';
import { exportCommand, importCommand } from './commands/transfer';
import { verifyCommand } from './commands/verify';
import { replayConfig } from './config';
import {
  eventStoreStopped,
  eventStoreStoppedLine,
  readModelConnectionLost,
  readModelConnectionLostLine,
} from './connection-lost';
import { Connections } from './connections';
import type { CliIo } from './io';
import { neutralized } from './printable';

function positiveInteger(flag: string) {
  return (value: string): number => {
    // As the API reads an application id (no leading zero: `01` would be a second spelling of application 1).
    if (!/^[1-9]\d*$/.test(value) || !Number.isSafeInteger(Number(value)))
      throw new InvalidArgumentError(`${flag} must be a positive integer without leading zeros.`);
    return Number(value);
  };
}

function revision(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw new InvalidArgumentError('--at-revision must be a revision (0, 1, 2…).');
  return Number(value);
}

function isoTime(value: string): AtTime {
  try {
    return parseAtTime(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

const HELP_AFTER = `
How it connects (the same variables as the projector; see apps/replay-cli/README.md):
  EVENTSTORE_CONNECTION_STRING  the event store (esdb://host:2113?tls=false); unset: the embedded store
                                \`npm start\` serves on 127.0.0.1:$EMBEDDED_EVENTSTORE_PORT
  EMBEDDED_EVENTSTORE_PORT      the port of that embedded store (default 2113)
  DATABASE_URL                  PostgreSQL read models (postgres://…); unset: SQLite, read-models.sqlite
                                under DATA_DIR
  READ_MODEL_SCHEMA             the PostgreSQL schema of the read models (default: the URL's search_path)
  DATA_DIR                      the directory \`npm start\` uses (default ./data)
  REPLAY_PROGRESS_INTERVAL_MS   how often progress is written when stderr is no terminal (default 5000)

Exit codes:
  0        fine
  1        the audit found something: verify mismatches, import conflicts or digest mismatches, an export
           file that is truncated, an export that had to leave out a truncated stream, an erase that left
           a shared session alone
  2        the command could not run: bad flags, an unknown session, an unreachable store (or one that
           stopped answering, a read-model connection lost, mid-command), read models never projected, an
           event this CLI cannot read or fold, a line import refuses
  130/143  interrupted by SIGINT / SIGTERM (rebuild drops its copy and releases its lock first; import
           and export say what they had written). Signal the CLI itself, not \`npm run\`: npm exits at
           once on SIGTERM without passing it on

Set DEBUG=1 to print the stack trace of an unexpected error (a bug of the CLI).
`;

/** DEBUG set to anything but empty, 0 or false. */
function debugging(env: Record<string, string | undefined>): boolean {
  const value = env.DEBUG?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let connections: Connections | undefined;
  const open = () => (connections ??= new Connections(replayConfig(io.env)));
  const json = () => new Option('--json', 'print JSON only on stdout');
  const application = (required: boolean) => {
    const option = new Option('-a, --application <id>', 'application id').argParser(
      positiveInteger('--application'),
    );
    return required ? option.makeOptionMandatory() : option;
  };
  let exitCode: number = EXIT.ok;

  const program = new Command('session-replay')
    .description('Replay tooling for audits: history, state, verify, rebuild, export/import, digest, erase')
    .option(
      '--no-progress',
      'no progress on stderr (a bar on a terminal, otherwise a plain line every few seconds)',
    )
    .exitOverride()
    // Commander quotes the arguments it refuses: raw, an argument pasted from the data could drive the terminal.
    .configureOutput({
      writeOut: (s) => io.stdout.write(neutralized(s, 'keep')),
      writeErr: (s) => io.stderr.write(neutralized(s, 'keep')),
    })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('afterAll', HELP_AFTER);
  const progress = () => program.opts<{ progress: boolean }>().progress;

  program
    .command('history')
    .description('each event of a session: revision, time, type, fields changed (old → new), totals after')
    .argument('<integrationId>', 'the session id used in the API URL')
    .addOption(application(true))
    .addOption(json())
    .action(async (id: string, o: { application: number; json?: boolean }) => {
      exitCode = await historyCommand(io, open(), id, o);
    });

  program
    .command('state')
    .description('the CustomerSessionV2 as it was after a revision or at a time (default: now)')
    .argument('<integrationId>')
    .addOption(application(true))
    .addOption(new Option('--at-revision <revision>', 'state after this revision').argParser(revision))
    .addOption(
      new Option(
        '--at <time>',
        'state at this time: 2025-03-01T12:00:00Z, 2025-03-01T12:00:00+01:00, or a date (00:00 UTC)',
      )
        .argParser(isoTime)
        .conflicts('atRevision'),
    )
    .addOption(json())
    .action(
      async (id: string, o: { application: number; atRevision?: number; at?: AtTime; json?: boolean }) => {
        exitCode = await stateCommand(io, open(), id, o);
      },
    );

  program
    .command('verify')
    .description(
      'recompute every read model from the log and compare with the stored rows (exit 1 on mismatch)',
    )
    .addOption(application(false))
    .addOption(json())
    .action(async (o: { application?: number; json?: boolean }) => {
      exitCode = await verifyCommand(io, open(), { ...o, progress: progress() });
    });

  program
    .command('rebuild')
    .description('rebuild read models into a fresh copy and swap it in atomically once caught up')
    .addOption(
      new Option(
        '--projection <name>',
        'sessions, customer_profiles, daily_analytics or sku_analytics (repeatable)',
      ).argParser(collect),
    )
    .addOption(json())
    .action(async (o: { projection?: string[]; json?: boolean }) => {
      exitCode = await rebuildCommand(io, open(), { ...o, progress: progress() });
    });

  program
    .command('export')
    .description(
      'write the session and profile streams as NDJSON to stdout (--json: the summary on stderr as JSON)',
    )
    .addOption(application(false))
    .addOption(new Option('--json', 'the summary on stderr as one JSON line (stdout is NDJSON anyway)'))
    .action(async (o: { application?: number; json?: boolean }) => {
      exitCode = await exportCommand(io, open(), { ...o, progress: progress() });
    });

  program
    .command('import')
    .description('append the streams of an export (NDJSON on stdin), keeping event ids; checks digests')
    .addOption(json())
    .action(async (o: { json?: boolean }) => {
      exitCode = await importCommand(io, open(), { ...o, progress: progress() });
    });

  program
    .command('digest')
    .description("SHA-256 hash chain over a session stream's events (see the README for the encoding)")
    .argument('<integrationId>')
    .addOption(application(true))
    .addOption(new Option('--at-revision <revision>', 'digest of events 0..revision').argParser(revision))
    .addOption(json())
    .action(async (id: string, o: { application: number; atRevision?: number; json?: boolean }) => {
      exitCode = await digestCommand(io, open(), id, o);
    });

  program
    .command('erase')
    .description(
      "find every stream holding a customer's data (sessions, profile claim, idempotency records) and, with --yes, tombstone them",
    )
    .addOption(application(true))
    .addOption(
      new Option(
        '--profile <profileId>',
        'sessions that name this profile, and its claim stream (repeatable)',
      ).argParser(collect),
    )
    .addOption(
      new Option(
        '--identifier <value>',
        'sessions with this identifier or loyalty card (repeatable)',
      ).argParser(collect),
    )
    .addOption(
      new Option('--session <integrationId>', 'this session, needs --application (repeatable)').argParser(
        collect,
      ),
    )
    .addOption(
      new Option(
        '--include-shared',
        'also erase sessions that name another profile too (left alone otherwise)',
      ),
    )
    .addOption(new Option('--yes', 'tombstone what was found (without it, only the plan is printed)'))
    .addOption(json())
    .action(
      async (o: {
        application: number;
        profile?: string[];
        identifier?: string[];
        session?: string[];
        includeShared?: boolean;
        yes?: boolean;
        json?: boolean;
      }) => {
        exitCode = await eraseCommand(io, open(), { ...o, progress: progress() });
      },
    );

  try {
    if (argv.length === 0) {
      // No command: a usage error (a script that lost its arguments should fail), the help on stderr.
      program.outputHelp({ error: true });
      return EXIT.usage;
    }
    await program.parseAsync(argv, { from: 'user' });
    // Output that did not reach stdout (a full disk) is no result: exit 2 with a line, whatever the command found.
    await io.settled?.();
    return exitCode;
  } catch (error) {
    // The reader of stdout went away (`export | head -1`): stop quietly.
    if (error instanceof StdoutClosedError) return EXIT.ok;
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.ok;
      // `help`, `help <command>`: asked for, printed on stdout. (Options without a command: help on stderr, 2.)
      if (error.code === 'commander.help') return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return EXIT.usage; // commander has printed the message
    }
    // Messages quote ids, stream names and event types from the log (escaped where they are quoted), and errors
    // from beneath the CLI whose text it does not control: whatever control character is still raw is escaped
    // here (see printable.ts), the lines of a message of several lines kept.
    const say = (text: string) => io.stderr.write(neutralized(text, 'keep'));
    if (error instanceof CliError) {
      say(`session-replay: ${error.message}\n`);
      return error.exitCode;
    }
    // A store that stopped answering mid-command (CANCELLED: stopped; UNAVAILABLE: killed, the connection
    // dropped), whichever command and pass: one line, exit 2 (export, import and rebuild say more themselves).
    if (eventStoreStopped(error)) {
      say(
        `session-replay: ${eventStoreStoppedLine(connections?.config.connectionString, error)} Run the command ` +
          'again once it answers.\n',
      );
      return EXIT.usage;
    }
    if (readModelConnectionLost(error)) {
      say(
        `session-replay: ${readModelConnectionLostLine(connections?.readModelsWhere() ?? 'DATABASE_URL', error)} ` +
          'Nothing was written to it; run the command again once the database answers.\n',
      );
      return EXIT.usage;
    }
    // Not a refusal the CLI knows: a bug, or a failure of a store beneath it. One line; the stack with DEBUG.
    const described = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    say(
      debugging(io.env)
        ? `session-replay: unexpected error: ${(error as Error).stack ?? described}\n`
        : `session-replay: unexpected error: ${described} (set DEBUG=1 to print its stack trace)\n`,
    );
    return EXIT.usage;
  } finally {
    await connections?.close();
  }
}
