/**
 * A stored event as if it had been written earlier: its store time (`created`) moved back `ago.created` ms and
 * its `at` (when its data has one) `ago.at` ms — how tests age a profile claim or a record without waiting.
 */
export function backdated<E extends { created: string; data: Record<string, unknown> }>(
  event: E,
  ago: { created: number; at: number },
): E {
  const earlier = (time: string, ms: number) => new Date(Date.parse(time) - ms).toISOString();
  const { at } = event.data;
  return {
    ...event,
    created: earlier(event.created, ago.created),
    data: typeof at === 'string' ? { ...event.data, at: earlier(at, ago.at) } : event.data,
  };
}
