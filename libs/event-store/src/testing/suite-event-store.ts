import { startTestEventStore } from '@session-engine/testing/event-store';
import { EsdbClientAdapter } from '../esdb-client.adapter';

/**
 * For one spec file: the test event store (the embedded server, or the external one `startTestEventStore`
 * names) started before its tests and an adapter on it handed to `connected`; both closed after its tests.
 */
export function suiteEventStore(connected: (store: EsdbClientAdapter) => void): void {
  let close = async (): Promise<void> => undefined;
  beforeAll(async () => {
    const server = await startTestEventStore();
    const store = EsdbClientAdapter.connect(server.connectionString);
    close = async () => {
      await store.close();
      await server.close();
    };
    connected(store);
  });
  afterAll(() => close());
}
