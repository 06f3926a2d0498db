/**
 * A variable's value as every process of the engine reads it — the API, the projector, the replay CLI and the
 * embedded event store run alone: trimmed, and unset when empty or only whitespace, so `DATA_DIR=" /srv/data"`
 * or `EMBEDDED_EVENTSTORE_PORT=" "` mean the same to all of them.
 */
export const envSetting = (value: string | undefined): string | undefined =>
  value === undefined || value.trim() === '' ? undefined : value.trim();
