import { listenErrorMessage } from './listen-error';

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

  it('given any other failure, has nothing to add (the caller passes the error on)', () => {
    expect(listenErrorMessage(new Error('boom'), 'The API', 'port 3000', remedy)).toBeUndefined();
    expect(listenErrorMessage(undefined, 'The API', 'port 3000', remedy)).toBeUndefined();
  });
});
