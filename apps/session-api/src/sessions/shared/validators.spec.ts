import { plainToInstance } from 'class-transformer';
import { IsInt, validateSync } from 'class-validator';
import { validationEntries } from '../../errors/validation-errors';
import type { ApiError } from '../../errors/api-error';
import { DryRunQueryDto, NoQueryParameters } from './query.dto';
import { IsOptionalNotNull, NestedObject } from './validators';

class Leaf {
  @IsInt()
  n: number;
}

class Root {
  @NestedObject(() => Leaf, { message: 'one must be a JSON object' })
  one: Leaf;

  @IsOptionalNotNull()
  @NestedObject(() => Leaf, { each: true, message: 'a leaf must be a JSON object' })
  many?: Leaf[];
}

const problems = (type: new () => object, plain: object) =>
  validationEntries(
    validateSync(plainToInstance(type, plain), {
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
    }),
  ).map(({ title, pointer, details }) => ({ title, pointer, details }));

describe('NestedObject', () => {
  it('validates an object as its DTO', () => {
    expect(problems(Root, { one: { n: 1 }, many: [{ n: 2 }] })).toEqual([]);
    expect(problems(Root, { one: { n: 'x' }, many: [{ n: 2 }, { n: 'y' }] }).map((p) => p.pointer)).toEqual([
      '/one/n',
      '/many/1/n',
    ]);
  });

  it('refuses an array where an object belongs, once, at its own pointer', () => {
    for (const one of [[], [{ n: 1 }], [{ n: 'x', extra: true }], 5, 'text']) {
      expect(problems(Root, { one })).toEqual([
        { title: 'INVALID_FIELD', pointer: '/one', details: 'one must be a JSON object' },
      ]);
    }
    expect(problems(Root, { one: { n: 1 }, many: [{ n: 1 }, [], [{ n: 1 }], 3] })).toEqual(
      ['/many/1', '/many/2', '/many/3'].map((pointer) => ({
        title: 'INVALID_FIELD',
        pointer,
        details: 'a leaf must be a JSON object',
      })),
    );
  });
});

describe('query DTOs', () => {
  it('take dry=true|false where there is a dry run, and nothing else', () => {
    expect(problems(DryRunQueryDto, {})).toEqual([]);
    expect(problems(DryRunQueryDto, { dry: 'true' })).toEqual([]);
    expect(problems(DryRunQueryDto, { dry: ['true', 'true'] })).toEqual([
      { title: 'INVALID_FIELD', pointer: '/dry', details: 'dry must be true or false' },
    ]);
    expect(problems(DryRunQueryDto, { dry: { a: 'true' } })[0]?.pointer).toBe('/dry');
    expect(problems(DryRunQueryDto, { Dry: 'true' })).toEqual([
      { title: 'UNKNOWN_FIELD', pointer: '/Dry', details: 'Unknown field /Dry' },
    ]);
  });

  it('refuse any parameter, dry included, where there is none', () => {
    const refusal = (query: Record<string, unknown>) => {
      try {
        new NoQueryParameters().transform(query);
        return [];
      } catch (error) {
        return (error as ApiError).entries;
      }
    };
    expect(refusal({})).toEqual([]);
    expect(refusal({ dry: 'true' })).toEqual([
      {
        title: 'UNKNOWN_FIELD',
        pointer: '/dry',
        details: 'Unknown field /dry: this endpoint has no dry run',
      },
    ]);
    expect(refusal({ force: '1', 'a/b': 'x' })).toEqual([
      { title: 'UNKNOWN_FIELD', pointer: '/force', details: 'Unknown field /force' },
      { title: 'UNKNOWN_FIELD', pointer: '/a~1b', details: 'Unknown field /a~1b' },
    ]);
  });
});
