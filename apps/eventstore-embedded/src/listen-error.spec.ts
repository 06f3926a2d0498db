import { hostRemedy, listenErrorMessage, listenHostProblem } from './listen-error';

describe('listenErrorMessage', () => {
  const remedy = 'set PORT to a free port';
  const fromNode = (code: string) => Object.assign(new Error(`listen ${code}: ... :::3000`), { code });

  it('given a port in use (by code, or only in the message as grpc-js and worker threads pass it on), says so and how to choose another', () => {
    const expected =
      'The API cannot listen on port 3000: another process is using that port. Stop it, or set PORT to a free port.';
    expect(listenErrorMessage(fromNode('EADDRINUSE'), 'The API', 'port 3000', remedy)).toBe(expected);
    const grpc = new Error(
      'No address added out of total 1 resolved errors: [listen EADDRINUSE: address already in use 127.0.0.1:2113]',
    );
    expect(listenErrorMessage(grpc, 'The API', 'port 3000', remedy)).toBe(expected);
  });

  it('given a privileged port, names the permission problem', () => {
    expect(listenErrorMessage(fromNode('EACCES'), 'The API', 'port 80', remedy)).toBe(
      'The API cannot listen on port 80: permission denied (ports below 1024 need privileges); set PORT to a free port.',
    );
  });

  it('given an address of no interface, says that', () => {
    expect(listenErrorMessage(fromNode('EADDRNOTAVAIL'), 'The event store', '10.9.9.9:2113', remedy)).toBe(
      'The event store cannot listen on 10.9.9.9:2113: no network interface of this machine has that address.',
    );
  });

  it('given an address of no interface and the host setting, names the setting and what to set it to', () => {
    expect(
      listenErrorMessage(
        fromNode('EADDRNOTAVAIL'),
        'The projector’s metrics and health endpoint',
        '10.9.9.9:9464',
        'set PROJECTOR_METRICS_PORT to a free port (0 for none)',
        hostRemedy('PROJECTOR_METRICS_HOST'),
      ),
    ).toBe(
      'The projector’s metrics and health endpoint cannot listen on 10.9.9.9:9464: no network interface of this ' +
        'machine has that address; set PROJECTOR_METRICS_HOST to a host name or IP address of this machine ' +
        '(127.0.0.1, or 0.0.0.0 for every interface).',
    );
  });

  it('given a host name that does not resolve (Node’s getaddrinfo error, or grpc-js’s message), names the setting', () => {
    const expected =
      'The event store cannot listen on no-such-host.invalid:2113: the host name does not resolve to an address; ' +
      'set EMBEDDED_EVENTSTORE_HOST to a host name or IP address of this machine (127.0.0.1, or 0.0.0.0 for ' +
      'every interface).';
    const fromGetaddrinfo = Object.assign(new Error('getaddrinfo ENOTFOUND no-such-host.invalid'), {
      code: 'ENOTFOUND',
    });
    const fromGrpc = new Error('Name resolution failed for target dns:no-such-host.invalid:2113');
    for (const error of [fromGetaddrinfo, fromGrpc])
      expect(
        listenErrorMessage(
          error,
          'The event store',
          'no-such-host.invalid:2113',
          remedy,
          hostRemedy('EMBEDDED_EVENTSTORE_HOST'),
        ),
      ).toBe(expected);
  });

  it('given a file error with a listen error’s code (EACCES on mkdir or open under DATA_DIR), has nothing to add: it is no port problem', () => {
    const fromFs = Object.assign(new Error("EACCES: permission denied, mkdir '/srv/data/eventstore'"), {
      code: 'EACCES',
      syscall: 'mkdir',
      path: '/srv/data/eventstore',
    });
    // As a worker thread passes it on: the message alone.
    const fromWorker = new Error("EACCES: permission denied, open '/srv/data/dev-api-keys.json'");
    for (const error of [fromFs, fromWorker])
      expect(listenErrorMessage(error, 'The embedded event store', '127.0.0.1:2113', remedy)).toBeUndefined();
    const listening = Object.assign(new Error('listen EACCES: permission denied 127.0.0.1:80'), {
      code: 'EACCES',
      syscall: 'listen',
    });
    expect(listenErrorMessage(listening, 'The API', 'port 80', remedy)).toMatch(
      /permission denied \(ports below 1024/,
    );
  });

  it('given any other failure, has nothing to add (the caller passes the error on)', () => {
    expect(listenErrorMessage(new Error('boom'), 'The API', 'port 3000', remedy)).toBeUndefined();
    expect(listenErrorMessage(undefined, 'The API', 'port 3000', remedy)).toBeUndefined();
  });
});

describe('listenHostProblem', () => {
  const advice =
    'set SOME_HOST to a host name or IP address of this machine (127.0.0.1, or 0.0.0.0 for every interface)';

  it('given a name that resolves to no address, names the setting, the value and what to do', async () => {
    expect(await listenHostProblem('SOME_HOST', 'no-such-host.invalid')).toBe(
      `SOME_HOST: "no-such-host.invalid" does not resolve to an address (ENOTFOUND); ${advice}`,
    );
  });

  it('given an address no interface of this machine has, says so', async () => {
    expect(await listenHostProblem('SOME_HOST', '192.0.2.1')).toBe(
      `SOME_HOST: "192.0.2.1" is not an address of this machine (no network interface has it); ${advice}`,
    );
  });

  it('given an address or a name of this machine, or every interface, has no problem', async () => {
    for (const host of ['127.0.0.1', 'localhost', '0.0.0.0'])
      expect(await listenHostProblem('SOME_HOST', host)).toBeUndefined();
  });
});
