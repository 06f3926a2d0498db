import type { SessionEventType } from '@session-engine/session-domain';

/**
 * The `default:` of a projection's `switch` over event types: `passesBy<Listed>(event.type)` compiles only while
 * every type that reaches it is one of `Listed`, the types the projection has decided to pass by. A new event type
 * then fails to compile in each projection until it is told what to do with it — a `case`, or its list — instead of
 * being passed by unseen.
 */
export function passesBy<Listed extends SessionEventType>(type: Listed): void {
  void type;
}
