/**
 * Builds the configured Nest application (used by `main.ts`, the e2e tests and the benchmark): our own JSON
 * body reader (after authentication, see AppModule), the strict validation pipe, the one exception filter,
 * request ids, logs and metrics, the OpenAPI document at /docs and /openapi.json, and — through the adapter —
 * 405 with `Allow` for a known path asked with a wrong method (http/method-not-allowed.ts), a path parameter that
 * is not valid percent-encoding refused at its pointer (http/path-params.ts), and the server's own answers to
 * malformed HTTP (in the connection's order), CONNECT, `Expect`, a missing, repeated or invalid `Host`, a `#` in
 * the target and a header flood (http/server-hooks.ts); a client that hangs up mid-request is no error
 * (http/client-abort.ts); query parameters named like Object.prototype members are refused like any unknown one
 * (QueryAwareValidationPipe).
 */
import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppModule, type AppDependencies } from './app.module';
import { ApiExceptionFilter } from './errors/api-exception.filter';
import { validationException } from './errors/validation-errors';
import { ClientAbortFilter } from './http/client-abort';
import { freeFormTransformer } from './http/free-form-transformer';
import { JsonReplyExpressAdapter } from './http/json-reply.adapter';
import { requestContext } from './http/request-context';
import { installServerHooks } from './http/server-hooks';
import { MetricsService } from './operations/metrics.service';
import { QueryAwareValidationPipe } from './sessions/shared/query.dto';

export async function createSessionApi(deps: AppDependencies): Promise<INestApplication> {
  const metrics = deps.metrics ?? new MetricsService();
  const app = await NestFactory.create(
    AppModule.forRoot({ ...deps, metrics }),
    new JsonReplyExpressAdapter(),
    {
      bodyParser: false,
      logger: false,
      abortOnError: false,
    },
  );
  (app.getHttpAdapter().getInstance() as { disable(setting: string): void }).disable('x-powered-by');
  (app.getHttpServer() as Server).keepAliveTimeout = deps.config.httpKeepAliveTimeoutMs;
  installServerHooks(app.getHttpServer(), deps.keys, deps.logger, (status, code) =>
    metrics.countMalformed(status, code),
  );
  app.use(requestContext(deps.logger, metrics));
  app.useGlobalFilters(new ClientAbortFilter(new ApiExceptionFilter(deps.logger)));
  app.useGlobalPipes(
    new QueryAwareValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      forbidUnknownValues: true,
      validationError: { target: false, value: false },
      exceptionFactory: validationException,
      transformerPackage: freeFormTransformer,
    }),
  );

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Customer session engine')
      .setDescription('Event-sourced Talon.One-compatible customer sessions (CustomerSessionV2)')
      .setVersion('1')
      .addApiKey(
        { type: 'apiKey', in: 'header', name: 'Authorization', description: 'ApiKey-v1 <key>' },
        'ApiKey-v1',
      )
      .addApiKey(
        { type: 'apiKey', in: 'header', name: 'Authorization', description: 'ManagementKey-v1 <key>' },
        'ManagementKey-v1',
      )
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'openapi.json', raw: ['json'] });
  await app.init();
  return app;
}
