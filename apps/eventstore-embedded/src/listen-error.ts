/**
 * What to tell an operator when a server cannot listen: the address it tried, why in plain words, and the
 * setting that changes it — instead of `listen EADDRINUSE: address already in use :::3000`, grpc-js's
 * `No address added out of total 1 resolved` or `Name resolution failed for target dns:…`, or
 * `getaddrinfo ENOTFOUND …`. Recognised by the error's `code`, or by the code in its message (grpc-js and a
 * worker thread pass on only the message) — only when the listen raised it: a file error with the same code
 * (EACCES opening a file under DATA_DIR) is no port problem, and is passed on (see `dataDirErrorMessage`).
 */
import { lookup } from 'node:dns/promises';
import { createServer, isIP } from 'node:net';

export function listenErrorMessage(
  error: unknown,
  /** What was starting: "The embedded event store". */
  what: string,
  /** host:port as the user knows it. */
  address: string,
  /** How to choose another port: "set PORT to a free port". */
  remedy: string,
  /**
   * How to choose another host, for a server whose host is a setting (`hostRemedy('PROJECTOR_METRICS_HOST')`);
   * without it a host that is not this machine's is only described.
   */
  hostRemedy?: string,
): string | undefined {
  const code = listenErrorCode(error);
  const orHost = hostRemedy === undefined ? '' : `; ${hostRemedy}`;
  switch (code) {
    case 'EADDRINUSE':
      return `${what} cannot listen on ${address}: another process is using that port. Stop it, or ${remedy}.`;
    case 'EACCES':
      return `${what} cannot listen on ${address}: permission denied (ports below 1024 need privileges); ${remedy}.`;
    case 'EADDRNOTAVAIL':
      return `${what} cannot listen on ${address}: no network interface of this machine has that address${orHost}.`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${what} cannot listen on ${address}: the host name does not resolve to an address${orHost}.`;
    default:
      return undefined;
  }
}

/**
 * The system's reason a listen failed: the code of an error raised by `listen` or `bind` (`syscall`, or
 * `listen EACCES: …` in its message, as grpc-js and a worker thread pass it on), or of a host name that did not
 * resolve; undefined for any other error — EACCES on `open` or `mkdir` is about a file, not the port.
 */
function listenErrorCode(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : String(error);
  const { code, syscall } = (error ?? {}) as { code?: unknown; syscall?: unknown };
  if (typeof code === 'string' && (syscall === 'listen' || syscall === 'bind')) return code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return code;
  return (
    /\b(?:listen|bind) (EADDRINUSE|EACCES|EADDRNOTAVAIL)\b/.exec(message)?.[1] ??
    /\bgetaddrinfo (ENOTFOUND|EAI_AGAIN)\b/.exec(message)?.[1] ??
    (/Name resolution failed for target/.test(message) ? 'ENOTFOUND' : undefined)
  );
}

/** The error to rethrow: one carrying `listenErrorMessage` when it recognises the cause, else `error` itself. */
export function listenError(
  error: unknown,
  what: string,
  address: string,
  remedy: string,
  hostRemedy?: string,
): unknown {
  const message = listenErrorMessage(error, what, address, remedy, hostRemedy);
  return message ? new Error(message) : error;
}

/** What to do about a host setting that is not an address of this machine. */
export function hostRemedy(setting: string): string {
  return `set ${setting} to a host name or IP address of this machine (127.0.0.1, or 0.0.0.0 for every interface)`;
}

/**
 * The problem with a host setting that a listen on it would meet — a name that resolves to no address (a listen
 * would say only `getaddrinfo ENOTFOUND …` or `Name resolution failed for target dns:…`), or an address no
 * network interface of this machine has (EADDRNOTAVAIL) — in the form of the other configuration problems
 * (`PROJECTOR_METRICS_HOST: "…" does not resolve …; set PROJECTOR_METRICS_HOST to …`); undefined when it can
 * be listened on. Found by binding a throwaway server on port 0 of each address the name resolves to: one that
 * binds is enough (grpc-js listens on every address, Node's own servers on the first; a listen that still fails
 * is reported by `listenErrorMessage`). Checked before anything starts by the standalone projector and the
 * standalone event store, so neither connects, opens or locks anything only to stop.
 */
export async function listenHostProblem(setting: string, host: string): Promise<string | undefined> {
  let addresses: string[];
  try {
    addresses = (await lookup(host, { all: true })).map((found) => found.address);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return (
      `${setting}: "${host}" does not resolve to an address${typeof code === 'string' ? ` (${code})` : ''}; ` +
      hostRemedy(setting)
    );
  }
  const failures: (string | undefined)[] = [];
  for (const address of addresses) {
    const failure = await bindFailure(address);
    if (failure === undefined) return undefined;
    failures.push(failure);
  }
  if (failures.length === 0 || failures.some((code) => code !== 'EADDRNOTAVAIL')) return undefined;
  const resolved = isIP(host) ? '' : ` (${addresses.join(', ')})`;
  return `${setting}: "${host}"${resolved} is not an address of this machine (no network interface has it); ${hostRemedy(setting)}`;
}

/** The error code of listening on `address`, port 0; undefined when it listened (and was closed again). */
function bindFailure(address: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen(0, address, () => server.close(() => resolve(undefined)));
  });
}
