/**
 * Query parameters of the Integration API, validated like the Management API's (the global ValidationPipe):
 * a route accepts exactly the parameters its DTO names; any other is 400 `UNKNOWN_FIELD` at `/<name>`, so a
 * misspelt or unsupported option (`?Dry=true`, `?dry[]=true`, `dry` on `/close`) is refused instead of being
 * ignored by a command that then commits.
 */
import { ApiHideProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { NotAParameterHere } from './validators';

/** Routes without query parameters. `dry` is named only to say why it is refused. */
export class NoQueryDto {
  @ApiHideProperty()
  @NotAParameterHere('this endpoint has no dry run')
  dry?: never;
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
