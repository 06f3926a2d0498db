import { CliError } from '../cli-error';
import type { Connections } from '../connections';
import { printFields, printJson, type CliIo } from '../io';
import { digestOf } from '../stream-digest';
import { readSessionStream } from './session-stream';

export async function digestCommand(
  io: CliIo,
  connections: Connections,
  integrationId: string,
  options: { application: number; atRevision?: number; json?: boolean },
): Promise<number> {
  const stream = await readSessionStream(connections, options.application, integrationId);
  const last = Number(stream.stored[stream.stored.length - 1].revision);
  if (options.atRevision !== undefined && options.atRevision > last) {
    throw new CliError(
      `Session "${integrationId}" has revisions 0..${last}; there is no revision ${options.atRevision}.`,
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
