import { noEventStoreMessage } from './connections';

describe('noEventStoreMessage', () => {
  const tls =
    'TLS is on by default and the connection string does not set tls: a store without TLS (the embedded one, or ' +
    'EventStoreDB started with --insecure) needs tls=false';

  it('for a connection string that leaves TLS on, adds how to reach a store without TLS', () => {
    expect(noEventStoreMessage({ connectionString: 'esdb://127.0.0.1:4721', explicitEventStore: true })).toBe(
      'No event store answers at esdb://127.0.0.1:4721: check EVENTSTORE_CONNECTION_STRING. ' +
        `${tls} (esdb://127.0.0.1:4721?tls=false).`,
    );
    expect(
      noEventStoreMessage({
        connectionString: 'esdb://admin:secret@es:2113?connectionName=replay',
        explicitEventStore: true,
      }),
    ).toBe(
      'No event store answers at esdb://admin:***@es:2113?connectionName=replay: check EVENTSTORE_CONNECTION_STRING. ' +
        `${tls} (esdb://admin:***@es:2113?connectionName=replay&tls=false).`,
    );
  });

  it('adds nothing for one that sets tls, nor for the default (the embedded store npm start serves)', () => {
    expect(
      noEventStoreMessage({ connectionString: 'esdb://es:2113?tls=true', explicitEventStore: true }),
    ).toBe('No event store answers at esdb://es:2113?tls=true: check EVENTSTORE_CONNECTION_STRING.');
    expect(
      noEventStoreMessage({ connectionString: 'esdb://127.0.0.1:2113?tls=false', explicitEventStore: false }),
    ).toBe(
      'No event store answers at esdb://127.0.0.1:2113?tls=false: start it with `npm start` (or ' +
        '`npm run start:eventstore`), or set EVENTSTORE_CONNECTION_STRING.',
    );
  });
});
