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
            return {
              then(expected) {
                expect(run()).toEqual(expected);
              },
              thenEvents(assert) {
                const emitted = run();
                assert(emitted, state, emitted.reduce(decider.evolve, state));
              },
              thenThrows(code, fields = {}) {
                let thrown: unknown;
                try {
                  run();
                } catch (error) {
                  thrown = error;
                }
                expect(thrown).toBeDefined();
                expect(thrown).toMatchObject({ code, ...fields });
              },
            };
          },
        };
      },
    };
  },
};
