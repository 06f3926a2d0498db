/**
 * What to tell an operator when a server cannot listen: the address it tried, why in plain words, and the
 * setting that changes it — instead of `listen EADDRINUSE: address already in use :::3000` or grpc-js's
 * `No address added out of total 1 resolved`. Recognised by the error's `code`, or by the code in its
 * message (grpc-js and a worker thread pass on only the message).
 */
export function listenErrorMessage(
  error: unknown,
  /** What was starting: "The embedded event store". */
  what: string,
  /** host:port as the user knows it. */
  address: string,
  /** How to choose another port: "set PORT to a free port". */
  remedy: string,
): string | undefined {
  const code =
    (error as { code?: unknown } | undefined)?.code ??
    /\b(EADDRINUSE|EACCES|EADDRNOTAVAIL)\b/.exec(error instanceof Error ? error.message : String(error))?.[1];
  switch (code) {
    case 'EADDRINUSE':
      return `${what} cannot listen on ${address}: another process is using that port. Stop it, or ${remedy}.`;
    case 'EACCES':
      return `${what} cannot listen on ${address}: permission denied (ports below 1024 need privileges); ${remedy}.`;
    case 'EADDRNOTAVAIL':
      return `${what} cannot listen on ${address}: no network interface of this machine has that address.`;
    default:
      return undefined;
  }
}

/** The error to rethrow: one carrying `listenErrorMessage` when it recognises the cause, else `error` itself. */
export function listenError(error: unknown, what: string, address: string, remedy: string): unknown {
  const message = listenErrorMessage(error, what, address, remedy);
  return message ? new Error(message) : error;
}
