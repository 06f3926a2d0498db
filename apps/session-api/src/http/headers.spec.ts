import { headerCount } from './headers';

describe('headerCount', () => {
  const req = (...rawHeaders: string[]) => ({ rawHeaders });

  it('counts a header however its name is written, values never matched as names', () => {
    const request = req('Authorization', 'a', 'host', 'x', 'AUTHORIZATION', 'authorization', 'X-Auth', 'b');
    expect(headerCount(request, 'authorization')).toBe(2);
    expect(headerCount(request, 'host')).toBe(1);
    expect(headerCount(request, 'idempotency-key')).toBe(0);
  });
});
