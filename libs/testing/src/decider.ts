/**
 * Given/when/then for deciders (emmett's DeciderSpecification shape):
 *
 *   const spec = DeciderSpecification.for({ decide, evolve, initialState: () => null });
 *   spec.given([created]).when(closeSession).then([closed]);
 *   spec.given([created, closed]).when(closeSession).thenThrows('ILLEGAL_STATE_TRANSITION');
 *
 * `given` events are folded with `evolve` from the initial state; `when` runs `decide` on that state.
 */
export interface Decider<Command, Event, State> {
  decide: (command: Command, state: State) => Event[];
  evolve: (state: State, event: Event) => State;
  initialState: () => State;
}

export interface DeciderOutcome<Event, State> {
  /** The command emits exactly these events (deep equality; `[]` asserts a no-op). */
  then(expected: Event[]): void;
  /** The emitted events satisfy the assertion; gets the state before and after them too. */
  thenEvents(assert: (events: Event[], before: State, after: State) => void): void;
  /** The command is refused with an error whose `code` is `code` (and whose other fields match `fields`). */
  thenThrows(code: string, fields?: Record<string, unknown>): void;
}

export interface DeciderSpec<Command, Event, State> {
  given(events: Event[]): { when(command: Command): DeciderOutcome<Event, State> };
}

export const DeciderSpecification = {
  for<Command, Event, State>(decider: Decider<Command, Event, State>): DeciderSpec<Command, Event, State> {
    return {
      given(events) {
        return {
          when(command) {
            const state = events.reduce(decider.evolve, decider.initialState());
            const run = () => decider.decide(command, state);
            const then = (expected: Event[], onRejected?: unknown) => {
              // `then` makes the outcome look like a promise: `await spec.given(…).when(…)` (or returning it from
              // an async function) calls then(resolve, reject). Refused with a message rather than a diff of the
              // events against a function.
              if (typeof expected === 'function') {
                const misuse = new TypeError(
                  'A decider outcome is no promise: call .then([...events]) on it, without await or return',
                );
                if (typeof onRejected === 'function') return void onRejected(misuse);
                throw misuse;
              }
              const emitted = run();
              failAtCaller(then, () => expect(emitted).toEqual(expected));
            };
            const thenEvents = (assert: (events: Event[], before: State, after: State) => void) => {
              const emitted = run();
              assert(emitted, state, emitted.reduce(decider.evolve, state));
            };
            const thenThrows = (code: string, fields: Record<string, unknown> = {}) => {
              let outcome: { emitted: Event[] } | { thrown: unknown };
              try {
                outcome = { emitted: run() };
              } catch (error) {
                // An error without a code is no refusal but a bug in decide: thrown as it is, its stack
                // points at the line that failed.
                if (typeof error !== 'object' || error === null || !('code' in error)) throw error;
                outcome = { thrown: error };
              }
              // A command accepted instead shows the events it emitted in the diff.
              failAtCaller(thenThrows, () => expect(outcome).toMatchObject({ thrown: { code, ...fields } }));
            };
            return { then, thenEvents, thenThrows };
          },
        };
      },
    };
  },
};

/**
 * Runs an assertion and, when it fails, cuts this helper's frames off the error's stack: jest prints the code
 * of the stack's first frame, which is then the spec's `then…` line rather than a line in this file.
 */
function failAtCaller(caller: (...args: never[]) => void, assert: () => void): void {
  try {
    assert();
  } catch (error) {
    if (error instanceof Error) Error.captureStackTrace(error, caller);
    throw error;
  }
}
