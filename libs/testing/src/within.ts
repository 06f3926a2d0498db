/**
 * What `promise` resolves to, or `late` if it has not within `ms`. The timer is cleared either way: left
 * running, it would keep jest's process alive for up to `ms` after the file's last test.
 */
export async function within<T, L>(promise: Promise<T>, ms: number, late: L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<L>((resolve) => (timer = setTimeout(resolve, ms, late))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
