/**
 * Test helpers shared across the libs and apps: given/when/then for deciders (`DeciderSpecification`), ports
 * that nothing answers on, log capture, a race against a deadline. Imported from here by unit specs, so nothing here loads a server: the
 * event store a suite runs against is `@session-engine/testing/event-store`.
 *
 * The other tiers' helpers live next to what they test: the whole API in one process for HTTP specs,
 * `test/support/harness.ts`; event histories for projection specs,
 * `libs/read-models/src/testing/session-history.ts` (and the PostgreSQL and SQLite databases of the integration
 * specs, `test-databases.ts` beside it); the projector's and the replay CLI's in their `src/testing/`.
 */
export * from './decider';
export * from './ports';
export * from './log-capture';
export * from './within';
