import { CliError } from '../cli-error';
import type { Connections } from '../connections';
import { printFields, printJson, type CliIo } from '../io';
import { printable, quoted } from '../printable';
import { digestOf } from '../stream-digest';
import { readSessionStream } from './session-stream';

/**
 * The hash chain over the stream's events exactly as stored: no upcasting, no folding, so it covers a stream
 * holding events this CLI cannot read (a newer writer's) as well as any other.
 */
export async function digestCommand(
  io: CliIo,
  connections: Connections,
  integrationId: string,
  options: { application: number; atRevision?: number; json?: boolean },
): Promise<number> {
  const stream = await readSessionStream(connections, options.application, integrationId);
  const first = Number(stream.stored[0].revision);
  if (first !== 0) {
    // A digest covers revisions 0..R: a stream read from its middle cannot prove them.
    throw new CliError(
      `${printable(stream.name)} starts at revision ${first} (its earlier events were truncated or deleted): a digest ` +
        'covers revisions 0..R, so none can be computed.',
    );
  }
  const last = Number(stream.stored[stream.stored.length - 1].revision);
  if (options.atRevision !== undefined && options.atRevision > last) {
    throw new CliError(
      `Session ${quoted(integrationId)} has revisions 0..${last}; there is no revision ${options.atRevision}.`,
    );
  }
  const covered =
    options.atRevision === undefined
      ? stream.stored
      : stream.stored.filter((e) => Number(e.revision) <= options.atRevision!);
  const digest = digestOf(stream.name, covered);
  if (options.json) printJson(io, digest);
  else printFields(io, Object.entries(digest));
  return 0;
}
