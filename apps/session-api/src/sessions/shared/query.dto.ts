/**
 * Query parameters of the Integration API, validated like the Management API's (the global ValidationPipe):
 * a route accepts exactly the parameters its DTO names; any other is 400 `UNKNOWN_FIELD` at `/<name>`, so a
 * misspelt or unsupported option (`?Dry=true`, `?dry[]=true`, `dry` on `/close`) is refused instead of being
 * ignored by a command that then commits.
 */
import { Injectable, type PipeTransform } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { ApiError, ErrorCode } from '../../errors/api-error';

/**
 * Routes without query parameters (`@Query(NoQueryParameters)`): any parameter is 400 UNKNOWN_FIELD, `dry`
 * with the reason. A pipe of its own rather than an empty DTO: these are the hot routes (AddCartItems), and
 * this check costs nothing when the query is empty, where the validation pipe costs a few microseconds.
 */
@Injectable()
export class NoQueryParameters implements PipeTransform<Record<string, unknown>> {
  transform(query: Record<string, unknown>): Record<string, unknown> {
    const names = Object.keys(query ?? {});
    if (names.length === 0) return query;
    const entries = names.map((name) => {
      const pointer = `/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      return {
        title: ErrorCode.UnknownField,
        details: `Unknown field ${pointer}${name === 'dry' ? ': this endpoint has no dry run' : ''}`,
        pointer,
      };
    });
    throw new ApiError(400, entries, `Invalid request: ${entries[0]!.details}`);
  }
}

/** UpdateSession and ReturnItems: `dry=true` evaluates and answers, storing nothing. */
export class DryRunQueryDto {
  @ApiPropertyOptional({
    enum: ['true', 'false'],
    description: 'true: evaluate and return the would-be result, store nothing',
  })
  @IsOptional()
  @IsIn(['true', 'false'], { message: 'dry must be true or false' })
  dry?: 'true' | 'false';
}
