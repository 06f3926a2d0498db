import { decide, profileToClaim } from './decide';
import type { SessionCreated } from './events';
import { close, extend, HISTORIES, history, stateOf, update } from './spec-fixtures';

describe('profileToClaim', () => {
  it('claims the profileId a session is created with', () => {
    expect(profileToClaim(null, update({ profileId: 'alice' }))).toBe('alice');
  });

  it('claims nothing for an anonymous creation', () => {
    expect(profileToClaim(null, update({}))).toBeNull();
    expect(profileToClaim(null, update({ profileId: '' }))).toBeNull();
    expect(profileToClaim(null, update({ profileId: null }))).toBeNull();
  });

  it('claims a profileId first set on an anonymous session', () => {
    expect(profileToClaim(stateOf(history(update({}))), update({ profileId: 'bob' }))).toBe('bob');
  });

  it('claims a profileId that replaces another one', () => {
    expect(profileToClaim(stateOf(HISTORIES.open()), update({ profileId: 'bob' }))).toBe('bob');
  });

  it('claims nothing when the profileId is unchanged or omitted', () => {
    const open = stateOf(HISTORIES.open());
    expect(profileToClaim(open, update({ profileId: 'alice' }))).toBeNull();
    expect(profileToClaim(open, update({ couponCodes: ['A'] }))).toBeNull();
  });

  it('claims nothing when the session goes back to anonymous', () => {
    expect(profileToClaim(stateOf(HISTORIES.open()), update({ profileId: '' }))).toBeNull();
  });

  it('claims nothing for a command the domain would refuse (refused commands never claim)', () => {
    expect(profileToClaim(stateOf(HISTORIES.closed()), update({ profileId: 'bob' }))).toBeNull();
    expect(profileToClaim(null, update({ profileId: 'p'.repeat(1001) }))).toBeNull();
    expect(profileToClaim(null, update({ profileId: 'bob', state: 'cancelled' }))).toBeNull();
  });

  it('claims nothing for commands other than UpdateSession', () => {
    expect(profileToClaim(stateOf(HISTORIES.open()), close())).toBeNull();
  });

  it('lets programming errors through instead of hiding them as "nothing to claim"', () => {
    expect(() => profileToClaim(null, { ...update({ profileId: 'alice' }), sessionId: 0 })).toThrow(
      'sessionId',
    );
  });
});

describe('firstSession', () => {
  const createdWith = (...args: Parameters<typeof update>) =>
    (decide(update(...args), null)[0] as SessionCreated).data;

  it('is true while anonymous, whatever the command says', () => {
    expect(createdWith({}, 50, false).firstSession).toBe(true);
  });

  it('takes the claim outcome when a profile is claimed at creation', () => {
    expect(createdWith({ profileId: 'alice' }, 50, true).firstSession).toBe(true);
    expect(createdWith({ profileId: 'alice' }, 50, false).firstSession).toBe(false);
  });

  it('is false when a profile is set without a claim outcome (no proof of being first)', () => {
    expect(createdWith({ profileId: 'alice' }).firstSession).toBe(false);
  });

  it('takes the claim outcome when the profile changes', () => {
    const events = extend(history(update({})), update({ profileId: 'bob' }, 50, false));
    expect(events[1]).toMatchObject({
      type: 'ProfileChanged',
      data: { previousProfileId: '', profileId: 'bob', firstSession: false },
    });
    expect(stateOf(events).firstSession).toBe(false);
  });

  it('becomes true again when the session goes back to anonymous', () => {
    const events = extend(history(update({ profileId: 'alice' }, 1, false)), update({ profileId: '' }));
    expect(stateOf(events)).toMatchObject({ profileId: '', firstSession: true });
  });

  it('ignores the command value when the profile does not change', () => {
    const events = extend(
      history(update({ profileId: 'alice' }, 1, false)),
      update({ profileId: 'alice' }, 50, true),
    );
    expect(stateOf(events).firstSession).toBe(false);
  });
});
