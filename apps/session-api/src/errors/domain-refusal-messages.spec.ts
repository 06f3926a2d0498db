/**
 * How the API words what the domain's field checks say ("must be at most …" at a pointer): the field first
 * and "Invalid request: " before the message, as the validation pipe words its own errors; and how the
 * global validation pipe answers a body that is JSON but not an object.
 */
import { DomainError } from '@session-engine/session-domain';
import { UpdateSessionRequestDto } from '../sessions/commands/update-session/update-session.request.dto';
import { QueryAwareValidationPipe } from '../sessions/shared/query.dto';
import { CommandRefused } from './api-error';
import { fieldLabel, mapError, toErrorBody } from './api-exception.filter';
import { validationException } from './validation-errors';

const predicate = (
  pointer: string,
  message: string,
  code: 'INVALID_FIELD' | 'LIMIT_EXCEEDED' = 'INVALID_FIELD',
) => new DomainError(code, message, pointer, true);

describe('a domain refusal that names no field', () => {
  it.each([
    [
      '/customerSession',
      '/cartItems/0/price',
      'must be at most 1000000000000000',
      'price must be at most 1000000000000000',
    ],
    [
      '/customerSession',
      '/profileId',
      'must not contain the NUL character (U+0000)',
      'profileId must not contain the NUL character (U+0000)',
    ],
    ['', '/cartItems/2/quantity', 'must be an integer ≥ 1', 'quantity must be an integer ≥ 1'],
    [
      '/return',
      '/returnedCartItems/0',
      'must give a position or a sku',
      '/return/returnedCartItems/0 must give a position or a sku',
    ],
    [
      '/customerSession',
      '/couponCodes/3',
      'must be 1..100 characters long',
      '/customerSession/couponCodes/3 must be 1..100 characters long',
    ],
    [
      '/customerSession',
      '/attributes/note',
      'must not contain the NUL character (U+0000)',
      '/customerSession/attributes/note must not contain the NUL character (U+0000)',
    ],
    [
      '/customerSession',
      '/attributes',
      'must be at most 65536 bytes serialized',
      'attributes must be at most 65536 bytes serialized',
    ],
    [
      '',
      '/cartItems/0/attributes/price',
      'must be plain JSON',
      '/cartItems/0/attributes/price must be plain JSON',
    ],
    [
      '/customerSession',
      '/additionalCosts/shipping',
      'must be an object {price}',
      '/customerSession/additionalCosts/shipping must be an object {price}',
    ],
    [
      '/customerSession',
      '/additionalCosts/shipping/price',
      'must be a finite number ≥ 0',
      'price must be a finite number ≥ 0',
    ],
    ['/customerSession', '', 'must be a JSON object', 'customerSession must be a JSON object'],
  ])('at %s%s: names the field', (base, pointer, message, details) => {
    const body = toErrorBody(mapError(new CommandRefused(predicate(pointer, message), base)));
    expect(body).toEqual({
      message: `Invalid request: ${details}`,
      errors: [{ title: 'INVALID_FIELD', details, source: { pointer: `${base}${pointer}` } }],
      StatusCode: 400,
    });
  });

  it('keeps the code of a limit', () => {
    const body = toErrorBody(
      mapError(
        new CommandRefused(
          predicate('/cartItems', 'must hold at most 1000 cart items per request', 'LIMIT_EXCEEDED'),
          '',
        ),
      ),
    );
    expect(body.errors[0]).toMatchObject({
      title: 'LIMIT_EXCEEDED',
      details: 'cartItems must hold at most 1000 cart items per request',
    });
    expect(body.message).toBe('Invalid request: cartItems must hold at most 1000 cart items per request');
  });

  it('leaves a whole sentence as it is in details, after "Invalid request: " in a 400 message', () => {
    const body = toErrorBody(
      mapError(
        new CommandRefused(
          new DomainError(
            'CART_ITEM_NOT_FOUND',
            'The cart has no item at position 9',
            '/returnedCartItems/0/position',
          ),
          '/return',
        ),
      ),
    );
    expect({ message: body.message, details: body.errors[0]!.details }).toEqual({
      message: 'Invalid request: The cart has no item at position 9',
      details: 'The cart has no item at position 9',
    });
  });

  it('keeps a 409 sentence as its message, without the prefix (a refused transition, not a bad field)', () => {
    const body = toErrorBody(
      mapError(
        new CommandRefused(
          new DomainError('ILLEGAL_STATE_TRANSITION', 'Cannot close a cancelled session'),
          '',
        ),
      ),
    );
    expect({ status: body.StatusCode, message: body.message }).toEqual({
      status: 409,
      message: 'Cannot close a cancelled session',
    });
  });

  it('labels the whole body so', () => {
    expect(fieldLabel('')).toBe('the request body');
  });
});

describe('a body that is JSON but not an object', () => {
  const pipe = new QueryAwareValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    forbidUnknownValues: true,
    validationError: { target: false, value: false },
    exceptionFactory: validationException,
  });
  const validate = (value: unknown) =>
    pipe.transform(value, { type: 'body', metatype: UpdateSessionRequestDto }).then(
      () => undefined,
      (error: unknown) => toErrorBody(mapError(error)),
    );

  it.each([
    [[], 'an array'],
    [[{ customerSession: {} }], 'an array'],
    [5, 'a number'],
    ['x', 'a string'],
    [null, 'null'],
    [false, 'a boolean'],
  ])('%j is told the body must be a JSON object, with no pointer (source {})', async (value, kind) => {
    expect(await validate(value)).toEqual({
      message: `Invalid request: The request body must be a JSON object, not ${kind}`,
      errors: [
        {
          title: 'INVALID_FIELD',
          details: `The request body must be a JSON object, not ${kind}`,
          source: {},
        },
      ],
      StatusCode: 400,
    });
  });

  it('validates an object as before', async () => {
    expect(await validate({ customerSession: {} })).toBeUndefined();
    expect((await validate({}))?.errors[0]).toMatchObject({ source: { pointer: '/customerSession' } });
  });
});
