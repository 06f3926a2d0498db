/**
 * Waits for `work` at most `ms` (`undefined`: as long as it takes). When the time is up, `onTimeout` runs (it
 * closes whatever did not answer) and the error it returns rejects the wait; `work` is left to settle on its
 * own, its outcome dropped.
 *
 * The decision waits for one more turn of the event loop after the timer: Node runs due timers before it reads
 * the sockets, so a process that was busy past the deadline would otherwise take an answer that arrived in
 * time, and only waits to be read, for a hang.
 */
export function settleWithin<T>(
  work: Promise<T>,
  ms: number | undefined,
  onTimeout: () => Error,
): Promise<T> {
  if (ms === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      setImmediate(() => {
        if (settled) return;
        settled = true;
        reject(onTimeout());
      });
    }, ms);
    work.then(
      (value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // As it is: an error made by another context (Node's own, seen from a vm) keeps its `code`.
        reject(error);
      },
    );
  });
}
