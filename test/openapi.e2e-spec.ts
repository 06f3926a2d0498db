/**
 * The OpenAPI document (GET /openapi.json) tells a client author which errors each operation gives and what
 * their bodies look like: every operation lists its error statuses with the SPEC §5 error schema, whose
 * `title` enum holds every code the API can produce; and the errors the running API really sends are
 * documented on their operation, under their status and code, and conform to that schema.
 */
import type { CustomerProfileView } from '@session-engine/read-models';
import { DomainErrorCode, SESSION_LIMITS } from '@session-engine/session-domain';
import { getMetadataStorage } from 'class-validator';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { projectorHealthBody } from '../apps/projector/src/projector-http';
import { projectorStatus, type ProjectorReport } from '../apps/projector/src/projector-report';
import { ErrorCode, ManagementErrorCode } from '../apps/session-api/src/errors/api-error';
import { routeOf } from '../apps/session-api/src/http/request-context';
import type { ErrorSourceBody } from '../apps/session-api/src/errors/api-exception.filter';
import { ListSessionsQueryDto } from '../apps/session-api/src/management/dto/management-query.dto';
import { AddCartItemsRequestDto } from '../apps/session-api/src/sessions/commands/add-cart-items/add-cart-items.request.dto';
import { ReturnItemsRequestDto } from '../apps/session-api/src/sessions/commands/return-items/return-items.request.dto';
import { UpdateSessionRequestDto } from '../apps/session-api/src/sessions/commands/update-session/update-session.request.dto';
import { nestedFields, type DtoType } from '../apps/session-api/src/sessions/shared/validators';
import {
  ApiHarness,
  client,
  KEY_APP1,
  MANAGEMENT_KEY,
  sessionUrl,
  type CallOptions,
  type Reply,
} from './support/harness';

jest.setTimeout(60_000);

interface Schema {
  $ref?: string;
  type?: string;
  enum?: unknown[];
  allOf?: Schema[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  required?: string[];
  items?: Schema;
  minItems?: number;
  [keyword: string]: unknown;
}

interface MediaType {
  schema?: Schema;
  examples?: Record<string, { summary?: string; value: unknown }>;
}

interface ResponseObject {
  description?: string;
  headers?: Record<string, { description?: string; schema?: Schema }>;
  content?: Record<string, MediaType>;
}

interface ParameterObject {
  name: string;
  in: string;
  required?: boolean;
  schema?: Schema & { format?: string; minimum?: number; maximum?: number; default?: unknown };
}

interface OpenApiDocument {
  paths: Record<
    string,
    Record<string, { responses: Record<string, ResponseObject>; parameters?: ParameterObject[] }>
  >;
  components: { schemas: Record<string, Schema> };
}

const ERROR_SCHEMA_REF = '#/components/schemas/ErrorResponse';
const SESSION = '/v2/customer_sessions/{customerSessionId}';
const APPLICATION = '/v1/applications/{applicationId}';

let harness: ApiHarness;
let call: ReturnType<typeof client>;
let document: OpenApiDocument;
const run = `${Date.now()}`;
const sid = (name: string) => `openapi-${name}-${run}`;

beforeAll(async () => {
  harness = await ApiHarness.start();
  call = client(harness);
  const reply = await call('GET', '/openapi.json', { key: null });
  expect(reply.status).toBe(200);
  document = reply.body as OpenApiDocument;
});

afterAll(async () => {
  await harness.dispose();
});

it('measures every documented path under a route template of its own, never as unmatched', () => {
  // The access log's and the metrics' route labels come from a list of its own (routeOf): a new endpoint left out
  // of it would be measured as `unmatched`. Parameters are compared by place, not by name.
  const paths = Object.keys(document.paths);
  expect(paths.length).toBeGreaterThan(10);
  for (const template of paths) {
    const sample = template.replace(/\{[^}]+\}/g, 'x1');
    const route = routeOf(sample);
    expect({ template, route: route.replace(/:\w+/g, '{}') }).toEqual({
      template,
      route: template.replace(/\{[^}]+\}/g, '{}'),
    });
  }
});

/** The schema a $ref names, or the one schema an `allOf` wraps (how Nest documents a property of a class). */
const resolve = (schema: Schema): Schema => {
  if (schema.$ref !== undefined) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    const target = document.components.schemas[name];
    if (!target) throw new Error(`${schema.$ref} is not defined`);
    return resolve(target);
  }
  if (schema.type === undefined && schema.allOf?.length === 1) return resolve(schema.allOf[0]!);
  return schema;
};

/** What is wrong with `value` against `schema` (the subset of JSON Schema the document uses); [] if nothing. */
function problems(value: unknown, schema: Schema, at = ''): string[] {
  const s = resolve(schema);
  const found = (s.allOf ?? []).flatMap((part) => problems(value, part, at));
  const where = at || '/';
  if (s.enum && !s.enum.includes(value)) found.push(`${where}: ${JSON.stringify(value)} is not in the enum`);
  switch (s.type) {
    case 'string':
      if (typeof value !== 'string') found.push(`${where}: not a string`);
      break;
    case 'integer':
      if (!Number.isInteger(value)) found.push(`${where}: not an integer`);
      break;
    case 'number':
      if (typeof value !== 'number') found.push(`${where}: not a number`);
      break;
    case 'boolean':
      if (typeof value !== 'boolean') found.push(`${where}: not a boolean`);
      break;
    case 'array':
      if (!Array.isArray(value)) found.push(`${where}: not an array`);
      else {
        if (s.minItems !== undefined && value.length < s.minItems) found.push(`${where}: too few items`);
        value.forEach((item, i) => found.push(...problems(item, s.items ?? {}, `${at}/${i}`)));
      }
      break;
    case 'object': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        found.push(`${where}: not an object`);
        break;
      }
      const record = value as Record<string, unknown>;
      for (const name of s.required ?? []) if (!(name in record)) found.push(`${at}/${name}: missing`);
      for (const [name, member] of Object.entries(record)) {
        const property = s.properties?.[name];
        const extra = s.additionalProperties;
        if (property !== undefined) found.push(...problems(member, property, `${at}/${name}`));
        else if (typeof extra === 'object') found.push(...problems(member, extra, `${at}/${name}`));
        else if (extra !== true) found.push(`${at}/${name}: not documented`);
      }
      break;
    }
  }
  return found;
}

const operation = (route: string, method: string) => {
  const op = document.paths[route]?.[method];
  if (!op) throw new Error(`${method.toUpperCase()} ${route} is not documented`);
  return op;
};

const errorCodesOf = (response: ResponseObject): string[] =>
  Object.values(response.content?.['application/json']?.examples ?? {}).map(
    (example) => (example.value as { errors: { title: string }[] }).errors[0]!.title,
  );

const COMMAND_ERRORS = ['400', '401', '404', '409', '412', '413', '415', '422', '500', '503'];

/** Every integration operation: its documented statuses, and the codes of its 400, 404 and 409. */
const integration: {
  name: string;
  route: string;
  method: string;
  statuses: string[];
  headers: string[];
  codes: Record<string, string[]>;
}[] = [
  {
    name: 'UpdateSession',
    route: SESSION,
    method: 'put',
    // PUT creates a missing session: never a 404.
    statuses: ['200', ...COMMAND_ERRORS.filter((status) => status !== '404')],
    headers: ['ETag', 'X-Event-Position', 'X-Request-Id'],
    codes: {
      '400': ['INVALID_FIELD', 'UNKNOWN_FIELD', 'LIMIT_EXCEEDED', 'INVALID_JSON', 'INVALID_HEADER'],
      '409': ['ILLEGAL_STATE_TRANSITION', 'SESSION_NOT_MODIFIABLE', 'CONCURRENT_UPDATE', 'SESSION_DELETED'],
    },
  },
  {
    name: 'GetSession',
    route: SESSION,
    method: 'get',
    statuses: ['200', '304', '400', '401', '404', '412', '500', '503'],
    headers: ['ETag', 'X-Request-Id'],
    codes: { '400': ['UNKNOWN_FIELD', 'INVALID_FIELD'], '404': ['SESSION_NOT_FOUND'] },
  },
  {
    name: 'AddCartItems',
    route: `${SESSION}/cart_items`,
    method: 'post',
    statuses: ['200', ...COMMAND_ERRORS],
    headers: ['ETag', 'X-Event-Position', 'X-Request-Id'],
    codes: {
      '400': ['INVALID_FIELD', 'UNKNOWN_FIELD', 'LIMIT_EXCEEDED', 'INVALID_JSON', 'INVALID_HEADER'],
      '404': ['SESSION_NOT_FOUND'],
      '409': ['SESSION_NOT_MODIFIABLE', 'CONCURRENT_UPDATE'],
    },
  },
  ...(['close', 'cancel'] as const).map((verb) => ({
    name: verb,
    route: `${SESSION}/${verb}`,
    method: 'post',
    statuses: ['200', ...COMMAND_ERRORS],
    headers: ['ETag', 'X-Event-Position', 'X-Request-Id'],
    codes: {
      '400': ['UNKNOWN_FIELD', 'INVALID_FIELD', 'INVALID_JSON', 'LIMIT_EXCEEDED', 'INVALID_HEADER'],
      '404': ['SESSION_NOT_FOUND'],
      '409': ['ILLEGAL_STATE_TRANSITION', 'CONCURRENT_UPDATE'],
    },
  })),
  {
    name: 'ReturnItems',
    route: `${SESSION}/returns`,
    method: 'post',
    statuses: ['200', ...COMMAND_ERRORS],
    headers: ['ETag', 'X-Event-Position', 'X-Request-Id'],
    codes: {
      '400': [
        'INVALID_FIELD',
        'UNKNOWN_FIELD',
        'LIMIT_EXCEEDED',
        'INVALID_JSON',
        'INVALID_HEADER',
        'CART_ITEM_NOT_FOUND',
      ],
      '404': ['SESSION_NOT_FOUND'],
      '409': ['ILLEGAL_STATE_TRANSITION', 'RETURN_QUANTITY_EXCEEDED', 'CONCURRENT_UPDATE'],
    },
  },
  {
    name: 'ReopenSession',
    route: `${SESSION}/reopen`,
    method: 'put',
    statuses: ['200', ...COMMAND_ERRORS],
    headers: ['ETag', 'X-Event-Position', 'X-Request-Id'],
    codes: {
      '400': ['UNKNOWN_FIELD', 'INVALID_FIELD', 'INVALID_JSON', 'LIMIT_EXCEEDED', 'INVALID_HEADER'],
      '404': ['SESSION_NOT_FOUND'],
      '409': ['ILLEGAL_STATE_TRANSITION', 'CONCURRENT_UPDATE'],
    },
  },
];

const management: { route: string; statuses: string[]; notFound?: string }[] = [
  { route: `${APPLICATION}/sessions`, statuses: ['200', '400', '401', '403', '503'] },
  {
    route: `${APPLICATION}/sessions/{id}`,
    statuses: ['200', '400', '401', '403', '404', '503'],
    notFound: 'SESSION_NOT_FOUND',
  },
  {
    route: `${APPLICATION}/customer_profiles/{profileId}`,
    statuses: ['200', '400', '401', '403', '404', '503'],
    notFound: 'PROFILE_NOT_FOUND',
  },
  { route: `${APPLICATION}/analytics/daily`, statuses: ['200', '400', '401', '403', '503'] },
  { route: `${APPLICATION}/analytics/skus`, statuses: ['200', '400', '401', '403', '503'] },
];

/** Each error response: the error schema, a description naming its codes, examples that fit, X-Request-Id. */
function expectErrorResponse(where: string, status: string, response: ResponseObject): void {
  const media = response.content?.['application/json'];
  expect({ where, status, ref: media?.schema?.$ref }).toEqual({ where, status, ref: ERROR_SCHEMA_REF });
  expect(response.headers?.['X-Request-Id']).toBeDefined();
  // A 503 says when to retry (NOT_READY 1 s, SERVICE_UNAVAILABLE 5 s); no other status sends it.
  expect({ where, status, retryAfter: response.headers?.['Retry-After']?.schema?.type }).toEqual({
    where,
    status,
    retryAfter: status === '503' ? 'integer' : undefined,
  });
  if (status === '503') expect(response.headers?.['Retry-After']?.description).toMatch(/NOT_READY/);
  const codes = errorCodesOf(response);
  expect(codes.length).toBeGreaterThan(0);
  for (const code of codes) expect(response.description).toContain(code);
  for (const example of Object.values(media?.examples ?? {})) {
    expect({ where, status, problems: problems(example.value, media!.schema!) }).toEqual({
      where,
      status,
      problems: [],
    });
    expect((example.value as { StatusCode: number }).StatusCode).toBe(Number(status));
  }
}

describe('the document as a whole', () => {
  /** Every schema object in the document, with where it is. */
  const schemas = (): [string, Record<string, unknown>][] => {
    const found: [string, Record<string, unknown>][] = [];
    const walk = (node: unknown, at: string) => {
      if (Array.isArray(node)) node.forEach((item, i) => walk(item, `${at}/${i}`));
      else if (node !== null && typeof node === 'object') {
        found.push([at, node as Record<string, unknown>]);
        for (const [key, value] of Object.entries(node)) walk(value, `${at}/${key}`);
      }
    };
    walk(document, '');
    return found;
  };

  it('defines every schema it references (a code generator resolves each $ref)', () => {
    const dangling = schemas()
      .filter(([, node]) => typeof node.$ref === 'string')
      .map(([at, node]) => ({ at, ref: node.$ref as string }))
      .filter(({ ref }) => !(ref.replace('#/components/schemas/', '') in document.components.schemas));
    expect(dangling).toEqual([]);
  });

  it('types the whole numbers the API requires as integers', () => {
    const property = (schema: string, name: string) =>
      document.components.schemas[schema]!.properties![name]!;
    expect({
      quantity: property('CartItemDto', 'quantity').type,
      returnPosition: property('ReturnedCartItemDto', 'position').type,
      returnQuantity: property('ReturnedCartItemDto', 'quantity').type,
      campaignIds: property('NewCustomerSessionV2Dto', 'evaluableCampaignIds').items?.type,
    }).toEqual({
      quantity: 'integer',
      returnPosition: 'integer',
      returnQuantity: 'integer',
      campaignIds: 'integer',
    });
  });

  it('types every property that has string limits as a string', () => {
    // A `string | null` field reaches the document as an object unless its type is given.
    const mistyped = schemas()
      .filter(
        ([, node]) =>
          (node.maxLength !== undefined || node.minLength !== undefined) && node.type !== 'string',
      )
      .map(([at, node]) => ({ at, type: node.type }));
    expect(mistyped).toEqual([]);
  });
});

describe('request limits: the document states every limit the server checks', () => {
  /**
   * A limit as the document states it: `at` names a request DTO's schema and property (`CartItemDto.sku`),
   * `[]` its items (`NewCustomerSessionV2Dto.couponCodes[]`); for a query DTO, the parameter of its route.
   */
  interface Limit {
    at: string;
    keyword: string;
    value: unknown;
  }

  const QUERY_ROUTES: Record<string, string> = { ListSessionsQueryDto: `${APPLICATION}/sessions` };

  const schemaAt = (at: string): Schema => {
    const [, name, property, items] = /^(\w+)\.(\w+)(\[\])?$/.exec(at)!;
    const route = QUERY_ROUTES[name!];
    const schema =
      route === undefined
        ? document.components.schemas[name!]?.properties?.[property!]
        : operation(route, 'get').parameters?.find((p) => p.name === property)?.schema;
    if (schema === undefined) throw new Error(`${at} is not documented`);
    return items ? (schema.items ?? {}) : schema;
  };

  /** class-validator constraints (by name) → the keywords that state them, from the constraint's arguments. */
  const KEYWORDS: Record<string, (args: unknown[]) => [string, unknown][]> = {
    isLength: ([min, max]) => [
      ...(min === 0 ? [] : [['minLength', min] as [string, unknown]]),
      ['maxLength', max],
    ],
    minLength: ([min]) => [['minLength', min]],
    maxLength: ([max]) => [['maxLength', max]],
    min: ([min]) => [['minimum', min]],
    max: ([max]) => [['maximum', max]],
    arrayMinSize: ([count]) => [['minItems', count]],
    arrayMaxSize: ([count]) => [['maxItems', count]],
    isIn: ([values]) => [['enum', values]],
  };

  /** The request bodies' DTOs (their nested ones included) and the list query's. */
  const dtos = (): DtoType[] => {
    const found = new Set<DtoType>();
    const visit = (type: DtoType) => {
      if (found.has(type)) return;
      found.add(type);
      for (const [, shape] of nestedFields(type)) if (shape.kind === 'dto') visit(shape.type());
    };
    [UpdateSessionRequestDto, AddCartItemsRequestDto, ReturnItemsRequestDto].forEach(visit);
    return [...found, ListSessionsQueryDto];
  };

  /** Every limit the validation pipe checks, read from the DTOs' validation metadata. */
  const pipeLimits = (): Limit[] =>
    dtos().flatMap((type) =>
      getMetadataStorage()
        .getTargetValidationMetadatas(type, '', true, false)
        .flatMap((metadata) =>
          (KEYWORDS[metadata.name ?? ''] ?? (() => []))(metadata.constraints ?? []).map(
            ([keyword, value]) => ({
              at: `${type.name}.${metadata.propertyName}${metadata.each ? '[]' : ''}`,
              keyword,
              value,
            }),
          ),
        ),
    );

  const SAFE = Number.MAX_SAFE_INTEGER;
  const dryPut = (customerSession: object) =>
    ['PUT', `${sessionUrl(sid('limits'))}?dry=true`, { customerSession }] as const;
  const dryReturn = (entry: object) =>
    [
      'POST',
      sessionUrl(sid('limits-closed'), '/returns?dry=true'),
      { return: { returnedCartItems: [entry] } },
    ] as const;
  const costs = (count: number) =>
    Object.fromEntries(Array.from({ length: count }, (_, i) => [`cost-${i}`, { price: 1 }]));
  const line = (fields: object) => ({ sku: 'a', quantity: 1, ...fields });

  /**
   * The limits no validator decorator states — the domain's (validation.ts, SESSION_LIMITS), and a cost's price,
   * which the pipe checks in its walk of the cost maps: each as the document states it, a request that sends
   * the value at the limit — accepted: 200, or `accepted`, a refusal of something else — and the same request
   * past it (`past`): 400 `code` at `pointer`.
   */
  const DOMAIN_LIMITS: (Limit & {
    value: number;
    past: number;
    request: (x: number) => readonly [string, string, object];
    pointer: string;
    code?: string;
    accepted?: { status: number; code: string };
  })[] = [
    {
      at: 'CartItemDto.price',
      keyword: 'maximum',
      value: SESSION_LIMITS.maxMoney,
      past: SESSION_LIMITS.maxMoney + 1,
      request: (price) => dryPut({ cartItems: [line({ price })] }),
      pointer: '/customerSession/cartItems/0/price',
    },
    {
      at: 'CartItemDto.quantity',
      keyword: 'maximum',
      value: SESSION_LIMITS.quantityPerRequest,
      past: SESSION_LIMITS.quantityPerRequest + 1,
      request: (quantity) => dryPut({ cartItems: [line({ quantity })] }),
      // The limit is on the sum of the request's quantities, so it is refused at the list.
      pointer: '/customerSession/cartItems',
      code: 'LIMIT_EXCEEDED',
    },
    {
      at: 'PriceDto.price',
      keyword: 'maximum',
      value: SESSION_LIMITS.maxMoney,
      past: SESSION_LIMITS.maxMoney + 1,
      request: (price) => dryPut({ additionalCosts: { shipping: { price } } }),
      pointer: '/customerSession/additionalCosts/shipping/price',
    },
    {
      at: 'PriceDto.price',
      keyword: 'minimum',
      value: 0,
      past: -0.01,
      request: (price) => dryPut({ cartItems: [line({ additionalCosts: { gift: { price } } })] }),
      pointer: '/customerSession/cartItems/0/additionalCosts/gift/price',
    },
    {
      at: 'NewCustomerSessionV2Dto.additionalCosts',
      keyword: 'maxProperties',
      value: SESSION_LIMITS.additionalCosts,
      past: SESSION_LIMITS.additionalCosts + 1,
      request: (count) => dryPut({ additionalCosts: costs(count) }),
      pointer: '/customerSession/additionalCosts',
    },
    {
      at: 'CartItemDto.additionalCosts',
      keyword: 'maxProperties',
      value: SESSION_LIMITS.additionalCosts,
      past: SESSION_LIMITS.additionalCosts + 1,
      request: (count) => dryPut({ cartItems: [line({ additionalCosts: costs(count) })] }),
      pointer: '/customerSession/cartItems/0/additionalCosts',
    },
    {
      at: 'NewCustomerSessionV2Dto.couponCodes',
      keyword: 'maxItems',
      value: SESSION_LIMITS.couponCodes,
      past: SESSION_LIMITS.couponCodes + 1,
      request: (count) => dryPut({ couponCodes: Array.from({ length: count }, (_, i) => `C${i}`) }),
      pointer: '/customerSession/couponCodes',
    },
    {
      at: 'NewCustomerSessionV2Dto.evaluableCampaignIds',
      keyword: 'maxItems',
      value: SESSION_LIMITS.evaluableCampaignIds,
      past: SESSION_LIMITS.evaluableCampaignIds + 1,
      request: (count) => dryPut({ evaluableCampaignIds: Array.from({ length: count }, (_, i) => i + 1) }),
      pointer: '/customerSession/evaluableCampaignIds',
    },
    {
      at: 'NewCustomerSessionV2Dto.evaluableCampaignIds[]',
      keyword: 'minimum',
      value: 1,
      past: 0,
      request: (id) => dryPut({ evaluableCampaignIds: [id] }),
      pointer: '/customerSession/evaluableCampaignIds/0',
    },
    {
      at: 'NewCustomerSessionV2Dto.evaluableCampaignIds[]',
      keyword: 'maximum',
      value: SAFE,
      past: SAFE + 1,
      request: (id) => dryPut({ evaluableCampaignIds: [id] }),
      pointer: '/customerSession/evaluableCampaignIds/0',
    },
    {
      at: 'ReturnedCartItemDto.position',
      keyword: 'maximum',
      value: SAFE,
      past: SAFE + 1,
      request: (position) => dryReturn({ position }),
      pointer: '/return/returnedCartItems/0/position',
      accepted: { status: 400, code: 'CART_ITEM_NOT_FOUND' },
    },
    {
      at: 'ReturnedCartItemDto.quantity',
      keyword: 'maximum',
      value: SAFE,
      past: SAFE + 1,
      request: (quantity) => dryReturn({ position: 0, quantity }),
      pointer: '/return/returnedCartItems/0/quantity',
      accepted: { status: 409, code: 'RETURN_QUANTITY_EXCEEDED' },
    },
  ];

  beforeAll(async () => {
    const id = sid('limits-closed');
    const created = await call('PUT', sessionUrl(id), {
      body: { customerSession: { cartItems: [line({})] } },
    });
    const closed = await call('POST', sessionUrl(id, '/close'));
    expect([created.status, closed.status]).toEqual([200, 200]);
  });

  it('states every limit the validation pipe checks, as its validation metadata gives it', () => {
    const limits = pipeLimits();
    expect(limits.length).toBeGreaterThan(20);
    const misstated = limits
      .map((limit) => ({ ...limit, documented: schemaAt(limit.at)[limit.keyword] }))
      .filter(({ value, documented }) => JSON.stringify(documented) !== JSON.stringify(value));
    expect(misstated).toEqual([]);
  });

  it.each(DOMAIN_LIMITS)(
    'states $at $keyword $value, which the domain enforces: accepted at it, 400 at $pointer past it',
    async ({ at, keyword, value, past, request, pointer, code, accepted }) => {
      expect({ at, keyword, documented: schemaAt(at)[keyword] }).toEqual({ at, keyword, documented: value });
      const send = async (x: number) => {
        const [method, url, body] = request(x);
        return call(method, url, { body });
      };
      const inside = await send(value);
      expect({ status: inside.status, code: inside.body?.errors?.[0]?.title }).toEqual(
        accepted ?? { status: 200, code: undefined },
      );
      const outside = await send(past);
      expect({ status: outside.status, errors: outside.body.errors }).toEqual({
        status: 400,
        errors: [expect.objectContaining({ title: code ?? 'INVALID_FIELD', source: { pointer } })],
      });
    },
  );

  it('states no limit in a request body that neither the pipe nor the domain checks', () => {
    const KEYWORD_NAMES = [
      'minLength',
      'maxLength',
      'minimum',
      'maximum',
      'minItems',
      'maxItems',
      'maxProperties',
      'enum',
    ];
    const checked = new Set([...pipeLimits(), ...DOMAIN_LIMITS].map(({ at, keyword }) => `${at} ${keyword}`));
    const stated: string[] = [];
    for (const [name, schema] of Object.entries(document.components.schemas)) {
      if (!name.endsWith('Dto')) continue; // the request bodies' schemas
      for (const [property, field] of Object.entries(schema.properties ?? {})) {
        const nodes: [string, Schema][] = [
          [`${name}.${property}`, field],
          [`${name}.${property}[]`, field.items ?? {}],
        ];
        for (const [at, node] of nodes)
          for (const keyword of KEYWORD_NAMES)
            if (node[keyword] !== undefined) stated.push(`${at} ${keyword}`);
      }
    }
    expect(stated.length).toBeGreaterThan(20);
    expect(stated.filter((limit) => !checked.has(limit))).toEqual([]);
  });
});

describe('the error schema', () => {
  it('is the body of SPEC §5: message, errors [{title, details, source: {pointer} | {parameter} | {}}], StatusCode', () => {
    const body = resolve({ $ref: ERROR_SCHEMA_REF });
    expect(body.type).toBe('object');
    expect([...(body.required ?? [])].sort()).toEqual(['StatusCode', 'errors', 'message']);
    expect(Object.keys(body.properties ?? {}).sort()).toEqual(['StatusCode', 'errors', 'message']);
    expect(resolve(body.properties!.message!).type).toBe('string');
    expect(resolve(body.properties!.StatusCode!).type).toBe('integer');
    const errors = resolve(body.properties!.errors!);
    expect(errors.type).toBe('array');
    const entry = resolve(errors.items!);
    // source always, as in Talon.One's APIError: a client reading errors[0].source.pointer finds it.
    expect([...(entry.required ?? [])].sort()).toEqual(['details', 'source', 'title']);
    expect(Object.keys(entry.properties ?? {}).sort()).toEqual(['details', 'source', 'title']);
    const source = resolve(entry.properties!.source!);
    // Talon.One's ErrorSource: a pointer into the body (or at a path parameter), or a query parameter's name.
    expect(source.required ?? []).toEqual([]);
    expect(Object.keys(source.properties ?? {}).sort()).toEqual(['parameter', 'pointer']);
    expect(resolve(source.properties!.pointer!).type).toBe('string');
    expect(resolve(source.properties!.parameter!).type).toBe('string');
    expect(resolve(source.properties!.parameter!).description).toMatch(
      /^Query parameter that caused this error/,
    );
    // No longer "/<name> for a query parameter": a query parameter has no pointer.
    expect(resolve(source.properties!.pointer!).description).not.toMatch(/for a query/i);
    // A body the API sends, checked against it: the checker does look at the content.
    const sample = {
      message: 'm',
      errors: [{ title: 'INVALID_FIELD', details: 'd', source: { pointer: '/x' } }],
      StatusCode: 400,
    };
    expect(problems(sample, { $ref: ERROR_SCHEMA_REF })).toEqual([]);
    const query = {
      ...sample,
      errors: [{ title: 'UNKNOWN_FIELD', details: 'd', source: { parameter: 'x' } }],
    };
    expect(problems(query, { $ref: ERROR_SCHEMA_REF })).toEqual([]);
    const nowhere = { ...sample, errors: [{ title: 'UNAUTHORIZED', details: 'd', source: {} }] };
    expect(problems(nowhere, { $ref: ERROR_SCHEMA_REF })).toEqual([]);
    expect(problems({ ...sample, StatusCode: '400' }, { $ref: ERROR_SCHEMA_REF })).not.toEqual([]);
    expect(
      problems(
        { ...sample, errors: [{ title: 'NO_SUCH_CODE', details: 'd', source: {} }] },
        { $ref: ERROR_SCHEMA_REF },
      ),
    ).not.toEqual([]);
    expect(
      problems({ ...sample, errors: [{ title: 'UNAUTHORIZED', details: 'd' }] }, { $ref: ERROR_SCHEMA_REF }),
    ).toEqual(['/errors/0/source: missing']);
  });

  it('lists in its title enum every code the API can produce, and no other', () => {
    const entry = resolve(resolve(resolve({ $ref: ERROR_SCHEMA_REF }).properties!.errors!).items!);
    const title = resolve(entry.properties!.title!);
    expect(title.type).toBe('string');
    const titleEnum = title.enum as string[];
    expect(Array.isArray(titleEnum)).toBe(true);

    // Codes named as literals where errors are raised (not through ErrorCode / DomainErrorCode).
    const root = path.resolve(__dirname, '..');
    const literal = [
      /ApiError\.of\(\s*\d{3},\s*'([A-Z][A-Z_]+)'/g,
      /context:\s*\{\s*code:\s*'([A-Z][A-Z_]+)'/g,
      /readonly code = '([A-Z][A-Z_]+)'/g,
      /title:\s*'([A-Z][A-Z_]+)'/g,
    ];
    const literals = new Set<string>();
    let scanned = 0;
    const scan = (dir: string): void => {
      for (const dirent of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, dirent.name);
        if (dirent.isDirectory()) scan(file);
        else if (/(?<!\.(spec|int-spec))\.ts$/.test(dirent.name)) {
          scanned++;
          const text = fs.readFileSync(file, 'utf8');
          for (const pattern of literal) for (const match of text.matchAll(pattern)) literals.add(match[1]!);
        }
      }
    };
    scan(path.join(root, 'apps/session-api/src'));
    for (const lib of ['session-domain', 'event-store']) scan(path.join(root, 'libs', lib, 'src'));
    expect(scanned).toBeGreaterThan(20);

    const produced = new Set([
      ...Object.values(ErrorCode),
      ...Object.values(DomainErrorCode),
      ...Object.values(ManagementErrorCode),
      ...literals,
    ]);
    const missing = [...produced].filter((code) => !titleEnum.includes(code));
    expect(missing).toEqual([]);
    expect([...titleEnum].sort()).toEqual([...produced].sort());
  });
});

describe('the error examples', () => {
  /** The `source` of the example of `code` in the `status` response of `method route`. */
  const sourceOf = (route: string, method: string, status: string, code: string): unknown => {
    const examples = operation(route, method).responses[status]?.content?.['application/json']?.examples;
    const value = examples?.[code]?.value as { errors: { source?: unknown }[] } | undefined;
    if (value === undefined) throw new Error(`${method} ${route} ${status} has no example of ${code}`);
    return value.errors[0]!.source;
  };

  it('show an error about a query parameter at source.parameter, one in the body or path at source.pointer', () => {
    expect(sourceOf(SESSION, 'get', '400', 'UNKNOWN_FIELD')).toEqual({ parameter: 'fields' });
    for (const { route } of management) {
      expect({ route, source: sourceOf(route, 'get', '400', 'UNKNOWN_FIELD') }).toEqual({
        route,
        source: { parameter: 'colour' },
      });
      expect({ route, source: sourceOf(route, 'get', '400', 'INVALID_FIELD') }).toEqual({
        route,
        source: { pointer: '/applicationId' },
      });
    }
    for (const report of ['daily', 'skus']) {
      expect(sourceOf(`${APPLICATION}/analytics/${report}`, 'get', '400', 'LIMIT_EXCEEDED')).toEqual({
        parameter: 'to',
      });
    }
    expect(sourceOf(SESSION, 'put', '400', 'INVALID_FIELD')).toEqual({
      pointer: '/customerSession/cartItems/3/quantity',
    });
  });

  it('show an error at no one place of the request with source {}', () => {
    expect(sourceOf(SESSION, 'get', '401', 'UNAUTHORIZED')).toEqual({});
    expect(sourceOf(SESSION, 'get', '404', 'SESSION_NOT_FOUND')).toEqual({});
    expect(sourceOf(`${SESSION}/close`, 'post', '409', 'ILLEGAL_STATE_TRANSITION')).toEqual({});
    expect(sourceOf(`${APPLICATION}/sessions`, 'get', '401', 'UNAUTHORIZED')).toEqual({});
  });

  it('always give a source, and never one with both a pointer and a parameter', () => {
    const wrong: string[] = [];
    for (const [route, operations] of Object.entries(document.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        for (const [status, response] of Object.entries(op.responses)) {
          for (const [code, example] of Object.entries(
            response.content?.['application/json']?.examples ?? {},
          )) {
            const errors =
              (example.value as { errors?: { source?: Record<string, unknown> }[] }).errors ?? [];
            for (const { source } of errors)
              if (source === undefined || Object.keys(source).length > 1)
                wrong.push(`${method} ${route} ${status} ${code}`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe.each(integration)('$name ($method $route)', (row) => {
  it('documents exactly the statuses it can give, each error with the error schema', () => {
    const op = operation(row.route, row.method);
    expect(Object.keys(op.responses).sort()).toEqual([...row.statuses].sort());
    for (const [status, response] of Object.entries(op.responses)) {
      if (status === '304')
        expect(response.content).toBeUndefined(); // Not Modified has no body
      else if (status !== '200') expectErrorResponse(`${row.method} ${row.route}`, status, response);
    }
  });

  it('names the codes of its 400, 404 and 409', () => {
    const op = operation(row.route, row.method);
    for (const [status, codes] of Object.entries(row.codes)) {
      expect({ status, codes: errorCodesOf(op.responses[status]!).sort() }).toEqual({
        status,
        codes: [...codes].sort(),
      });
    }
  });

  it('describes its 200 and the headers it sends', () => {
    const ok = operation(row.route, row.method).responses['200']!;
    expect(ok.description?.length).toBeGreaterThan(10);
    expect(Object.keys(ok.headers ?? {}).sort()).toEqual([...row.headers].sort());
    for (const header of Object.values(ok.headers ?? {})) expect(header.description).toBeTruthy();
  });
});

describe('the 200 bodies the API really sends', () => {
  /** The documented schema of an operation's 200. */
  const okSchema = (route: string, method: string): Schema =>
    operation(route, method).responses['200']!.content!['application/json']!.schema!;

  /** Every command and GET, each answered 200: the route and method it was sent to, and the reply. */
  const checks: [string, string, Reply][] = [];

  beforeAll(async () => {
    const id = sid('shapes');
    const item = {
      sku: 'S-1',
      name: 'Shirt',
      category: 'tops',
      quantity: 2,
      price: 19.99,
      product: { name: 'Shirt' },
      weight: 0.2,
      attributes: { colour: 'blue' },
      additionalCosts: { wrapping: { price: 0.5 } },
    };
    const send = async (route: string, method: string, path: string, options: CallOptions = {}) => {
      const reply = await call(method.toUpperCase(), path, options);
      expect({ path, status: reply.status }).toEqual({ path, status: 200 });
      checks.push([route, method, reply]);
      return reply;
    };
    await send(SESSION, 'put', `${sessionUrl(id)}?dry=true`, {
      body: { customerSession: { evaluableCampaignIds: [7], cartItems: [item] } },
    });
    await send(SESSION, 'put', sessionUrl(id), {
      body: {
        customerSession: {
          profileId: `shapes-${run}`,
          storeIntegrationId: 'store-1',
          couponCodes: ['C1'],
          referralCode: 'R1',
          loyaltyCards: ['L1'],
          identifiers: ['I1'],
          attributes: { channel: 'web' },
          additionalCosts: { shipping: { price: 4.95 } },
          cartItems: [item, { sku: 'S-2', quantity: 1 }],
        },
      },
    });
    await send(`${SESSION}/cart_items`, 'post', sessionUrl(id, '/cart_items'), {
      body: { cartItems: [{ sku: 'S-3', quantity: 1, price: 1 }] },
    });
    await send(`${SESSION}/close`, 'post', sessionUrl(id, '/close'));
    await send(`${SESSION}/returns`, 'post', sessionUrl(id, '/returns'), {
      body: { return: { returnedCartItems: [{ position: 0, quantity: 1 }] } },
    });
    await send(`${SESSION}/returns`, 'post', sessionUrl(id, '/returns'), {
      body: { return: { returnedCartItems: [{ sku: 'S-3' }] } },
    });
    await send(SESSION, 'get', sessionUrl(id));
    // The management reads answer with the same CUSTOMER_SESSION_SCHEMA (management-api.e2e-spec.ts checks
    // that their sessions equal GET's); this harness runs no projector.
    await send(`${SESSION}/cancel`, 'post', sessionUrl(id, '/cancel'));
  });

  it('match their documented schema field by field: every command and GET', () => {
    expect(checks).toHaveLength(8);
    for (const [route, method, reply] of checks) {
      expect({ route, method, problems: problems(reply.body, okSchema(route, method)) }).toEqual({
        route,
        method,
        problems: [],
      });
    }
    // The schema is not empty: a field the view does not have, or one of the wrong type, is found.
    const session = { ...(checks[1]![2].body.customerSession as object), colour: 'red', total: '60.07' };
    expect(problems({ customerSession: session, effects: [] }, okSchema(SESSION, 'get'))).toEqual([
      '/customerSession/total: not a number',
      '/customerSession/colour: not documented',
    ]);
  });

  it('require every field they always send (SPEC §4: customerSession is always returned)', () => {
    // Nothing at the top level of a 200 is optional: a client generated from the document may rely on each.
    for (const [route, method, reply] of checks) {
      expect({
        route,
        method,
        required: [...(resolve(okSchema(route, method)).required ?? [])].sort(),
      }).toEqual({
        route,
        method,
        required: Object.keys(reply.body as object).sort(),
      });
    }
  });
});

describe('what an analyst finds documented', () => {
  const okSchemaOf = (route: string) =>
    resolve(operation(route, 'get').responses['200']!.content!['application/json']!.schema!);
  const rowOf = (route: string) => resolve(okSchemaOf(route).properties!.data!.items!);

  it.each([
    ['the daily analytics row', `${APPLICATION}/analytics/daily`, 'sessionsCreated'],
    ['the SKU analytics row', `${APPLICATION}/analytics/skus`, 'quantitySold'],
    ['the customer profile', `${APPLICATION}/customer_profiles/{profileId}`, 'sessionCount'],
  ])('%s: what each field counts, and counts as integers', (_, route, aCount) => {
    const schema = route.includes('analytics') ? rowOf(route) : okSchemaOf(route);
    const fields = Object.entries(schema.properties!);
    expect(fields.length).toBeGreaterThan(2);
    const undescribed = fields
      .filter(([name, field]) => name !== 'sku' && !((field as { description?: string }).description ?? ''))
      .map(([name]) => name);
    expect(undescribed).toEqual([]);
    expect(schema.properties![aCount]).toMatchObject({ type: 'integer' });
  });

  it('says that itemsReturned counts units, not returns', () => {
    const itemsReturned = rowOf(`${APPLICATION}/analytics/daily`).properties!.itemsReturned as {
      description: string;
    };
    expect(itemsReturned.description).toMatch(
      /^Units returned that day: the sum of the quantities of its returns/,
    );
  });
});

describe('what a client migrating from Talon.One finds documented', () => {
  const queryParameter = (route: string, method: string, name: string) => {
    const found = operation(route, method).parameters?.find((p) => p.in === 'query' && p.name === name);
    if (!found) throw new Error(`${method.toUpperCase()} ${route} documents no query parameter ${name}`);
    return found as ParameterObject & { description?: string };
  };

  it('now on PUT, a date-time that needs dry=true; runRuleEngine on /returns, a boolean that changes nothing', () => {
    const now = queryParameter(SESSION, 'put', 'now');
    expect(now).toMatchObject({ required: false, schema: { type: 'string', format: 'date-time' } });
    expect(now.description).toMatch(/dry=true/);
    expect(now.description).toMatch(/later than the server's clock/);
    const dry = queryParameter(SESSION, 'put', 'dry');
    const runRuleEngine = queryParameter(`${SESSION}/returns`, 'post', 'runRuleEngine');
    expect(runRuleEngine).toMatchObject({ required: false, schema: dry.schema });
    expect(runRuleEngine.description).toMatch(/ignored: the engine has no rule engine/);
  });

  it("documents Talon.One's read-only cart item fields with their types, as read-only", () => {
    const properties = document.components.schemas.CartItemDto!.properties!;
    const TIME = { type: 'string', format: 'date-time' };
    const expected: Record<string, Schema> = {
      catalogItemID: { type: 'integer' },
      selectedPriceType: { type: 'string' },
      adjustmentReferenceId: { type: 'string' },
      adjustmentEffectiveFrom: TIME,
      adjustmentEffectiveUntil: TIME,
      prices: { type: 'object' },
    };
    for (const [name, schema] of Object.entries(expected)) {
      expect({ name, property: properties[name] }).toEqual({
        name,
        property: expect.objectContaining({
          ...schema,
          readOnly: true,
          description: expect.stringMatching(
            /Read-only, from Talon\.One: .*ignored, never stored and never returned/,
          ),
        }),
      });
    }
    expect(resolve(properties.prices!.additionalProperties as Schema).properties).toEqual({
      price: { type: 'number' },
      adjustmentContextId: { type: 'string' },
      adjustmentReferenceId: { type: 'string' },
      adjustmentEffectiveFrom: TIME,
      adjustmentEffectiveUntil: TIME,
    });
    // Not in the session the API answers with.
    const session = resolve(operation(SESSION, 'get').responses['200']!.content!['application/json']!.schema!)
      .properties!.customerSession!;
    const line = resolve(resolve(session).properties!.cartItems!.items!);
    expect(Object.keys(line.properties!).filter((name) => name in expected)).toEqual([]);
  });

  it("documents a PUT's previousReturns as sent only when asked, and the reply that has it fits", async () => {
    const schema = resolve(operation(SESSION, 'put').responses['200']!.content!['application/json']!.schema!);
    expect(schema.required).not.toContain('previousReturns');
    expect(schema.properties!.previousReturns!.description).toMatch(/responseContent/);
    const id = sid('previous-returns');
    const line = { sku: 'a', quantity: 2, price: 1 };
    expect(
      (
        await call('PUT', sessionUrl(id), {
          body: { customerSession: { cartItems: [line], state: 'closed' } },
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await call('POST', sessionUrl(id, '/returns'), {
          body: { return: { returnedCartItems: [{ position: 0 }] } },
        })
      ).status,
    ).toBe(200);
    const reply = await call('PUT', sessionUrl(id), {
      body: { customerSession: {}, responseContent: ['previousReturns'] },
    });
    expect(reply.status).toBe(200);
    expect(reply.body.previousReturns).toHaveLength(1);
    expect(problems(reply.body, schema)).toEqual([]);
    expect(problems({ ...reply.body, previousReturns: [{ id: 'x' }] }, schema)).not.toEqual([]);
  });
});

describe('the Management API and the health check', () => {
  it.each(management)(
    '$route documents its statuses with the error schema',
    ({ route, statuses, notFound }) => {
      const op = operation(route, 'get');
      expect(Object.keys(op.responses).sort()).toEqual([...statuses].sort());
      expect(op.responses['200']!.description).toBeTruthy();
      for (const [status, response] of Object.entries(op.responses)) {
        if (status !== '200') expectErrorResponse(`get ${route}`, status, response);
      }
      // NOT_READY for minPosition; SERVICE_UNAVAILABLE for a read-model database down or past its bound.
      expect(errorCodesOf(op.responses['503']!)).toEqual(['NOT_READY', 'SERVICE_UNAVAILABLE']);
      if (notFound) expect(errorCodesOf(op.responses['404']!)).toEqual([notFound]);
    },
  );

  const parameter = (route: string, name: string): ParameterObject => {
    const found = operation(route, 'get').parameters?.find((p) => p.name === name);
    if (!found) throw new Error(`GET ${route} documents no parameter ${name}`);
    return found;
  };
  const ID = { type: 'integer', format: 'int64', minimum: 1, maximum: Number.MAX_SAFE_INTEGER };

  it.each(management)('$route types applicationId as an integer from 1 to 2^53-1', ({ route }) => {
    expect(parameter(route, 'applicationId')).toEqual(
      expect.objectContaining({ in: 'path', required: true, schema: ID }),
    );
  });

  it('types the session id, pageSize and skip as integers with the limits the API checks', () => {
    expect(parameter(`${APPLICATION}/sessions/{id}`, 'id')).toEqual(
      expect.objectContaining({ in: 'path', required: true, schema: ID }),
    );
    const list = `${APPLICATION}/sessions`;
    expect(parameter(list, 'pageSize')).toEqual(
      expect.objectContaining({
        in: 'query',
        required: false,
        schema: { type: 'integer', minimum: 1, maximum: 1000, default: 1000 },
      }),
    );
    expect(parameter(list, 'skip')).toEqual(
      expect.objectContaining({
        in: 'query',
        required: false,
        schema: { type: 'integer', minimum: 0, maximum: 999_999_999, default: 0 },
      }),
    );
  });

  it.each([
    [
      '/v1/applications/9007199254740991/sessions',
      '/v1/applications/9007199254740992/sessions',
      { pointer: '/applicationId' },
    ],
    [
      '/v1/applications/1/sessions?pageSize=1000',
      '/v1/applications/1/sessions?pageSize=1001',
      { parameter: 'pageSize' },
    ],
    [
      '/v1/applications/1/sessions?pageSize=1',
      '/v1/applications/1/sessions?pageSize=0',
      { parameter: 'pageSize' },
    ],
    [
      '/v1/applications/1/sessions?skip=999999999',
      '/v1/applications/1/sessions?skip=1000000000',
      { parameter: 'skip' },
    ],
    ['/v1/applications/1/sessions?skip=0', '/v1/applications/1/sessions?skip=-1', { parameter: 'skip' }],
    [
      '/v1/applications/1/sessions/9007199254740991',
      '/v1/applications/1/sessions/9007199254740992',
      { pointer: '/id' },
    ],
    ['/v1/applications/1/sessions/1', '/v1/applications/1/sessions/0', { pointer: '/id' }],
  ])(
    'accepts %s at the documented limit and refuses %s past it, 400 INVALID_FIELD at %o',
    async (inside, outside, source) => {
      const asManagement = { key: null, headers: { authorization: `ManagementKey-v1 ${MANAGEMENT_KEY}` } };
      // 404 for a session id no session has: the id itself was accepted.
      expect([200, 404]).toContain((await call('GET', inside, asManagement)).status);
      const refused = await call('GET', outside, asManagement);
      expect({ status: refused.status, errors: refused.body.errors }).toEqual({
        status: 400,
        errors: [expect.objectContaining({ title: 'INVALID_FIELD', source })],
      });
    },
  );

  it('requires every field of a customer profile: the view always sends each (null until it has one)', () => {
    // Every key of the view, no other: the compiler holds this list to CustomerProfileView.
    const sent: Record<keyof CustomerProfileView, true> = {
      integrationId: true,
      closedSessions: true,
      totalSales: true,
      sessionCount: true,
      firstSessionIntegrationId: true,
      lastActivity: true,
    };
    const ok = operation(`${APPLICATION}/customer_profiles/{profileId}`, 'get').responses['200']!;
    const schema = resolve(ok.content!['application/json']!.schema!);
    expect([...(schema.required ?? [])].sort()).toEqual(Object.keys(sent).sort());
    expect(Object.keys(schema.properties ?? {}).sort()).toEqual(Object.keys(sent).sort());
  });

  it('GET /health/ready documents its 503', () => {
    const op = operation('/health/ready', 'get');
    expect(Object.keys(op.responses).sort()).toEqual(['200', '503']);
    expectErrorResponse('get /health/ready', '503', op.responses['503']!);
    expect(errorCodesOf(op.responses['503']!)).toEqual(['SERVICE_UNAVAILABLE']);
  });

  it('GET /health/ready documents the in-process projector it reports under npm start', () => {
    const ok = operation('/health/ready', 'get').responses['200']!.content!['application/json']!.schema!;
    // This harness runs no projector: the body is made by the code the API's projector thread uses, for a
    // projector that stopped reading to retry a batch the database refuses.
    const now = Date.parse('2026-01-01T00:01:00Z');
    const report: ProjectorReport = {
      at: now - 500,
      leader: true,
      reachedLiveEnd: false,
      position: 10n,
      head: 12n,
      lagEvents: 2,
      readingPaused: true,
      readingPausedSince: now - 2_000,
      readingPausedFor: 'retry',
      failure: {
        kind: 'rejected',
        attempts: 4,
        since: now - 30_000,
        position: 11n,
        streamId: 'session-1-a',
        eventType: 'SessionClosed',
        events: 1,
      },
      lagSince: now - 40_000,
      lastCommitAt: now - 40_000,
      stallAfterMs: 60_000,
    };
    const body = {
      status: 'ok',
      eventStore: 'up',
      readModels: 'up',
      projector: { ...projectorHealthBody(projectorStatus(report, now)), reportAgeSeconds: 1 },
    };
    expect(body.projector).toMatchObject({ readingPaused: true, readingPausedFor: 'retry' });
    expect(problems(JSON.parse(JSON.stringify(body)), ok)).toEqual([]);
    expect(problems({ ...body, projector: { status: 'not-running', reportAgeSeconds: 3 } }, ok)).toEqual([]);
    expect(problems({ ...body, projector: { ...body.projector, readingPausedFor: 'lunch' } }, ok)).toEqual([
      '/projector/readingPausedFor: "lunch" is not in the enum',
    ]);
  });
});

describe('the errors the API really sends', () => {
  const integrationKeyOnly = { key: null, headers: { authorization: `ApiKey-v1 ${KEY_APP1}` } };
  const asManagement = { key: null, headers: { authorization: `ManagementKey-v1 ${MANAGEMENT_KEY}` } };
  const text = { rawBody: 'hello', headers: { 'content-type': 'text/plain' } };
  const missing = sid('missing');
  const existing = sid('existing');
  const reused = sid('reused');

  /** A body each command accepts (by route suffix), so that only what the probe varies is wrong. */
  const BODY: Record<string, unknown> = {
    '': { customerSession: {} },
    '/cart_items': { cartItems: [{ sku: 'a', quantity: 1, price: 1 }] },
    '/returns': { return: { returnedCartItems: [{ position: 0 }] } },
  };

  const probes: {
    name: string;
    route: string;
    method: string;
    url: () => string;
    options?: CallOptions;
    status: number;
    code: string;
    /** The first error's `source`, when the probe checks it (`{}`: at no one place of the request). */
    source?: ErrorSourceBody;
    before?: () => Promise<unknown>;
  }[] = [
    ...integration.flatMap((row) => {
      const suffix = row.route.slice(SESSION.length);
      const method = row.method.toUpperCase();
      const base = { route: row.route, method: row.method };
      return [
        {
          ...base,
          name: `${row.name} without a key`,
          url: () => sessionUrl(missing, suffix),
          options: { key: null },
          status: 401,
          code: 'UNAUTHORIZED',
          source: {},
        },
        {
          ...base,
          name: `${row.name} with an unknown query parameter`,
          url: () => `${sessionUrl(existing, suffix)}?force=1`,
          options: method === 'GET' ? {} : { body: BODY[suffix] },
          status: 400,
          code: 'UNKNOWN_FIELD',
          source: { parameter: 'force' },
        },
        ...(method === 'GET'
          ? [
              {
                ...base,
                name: 'GetSession of an unknown session',
                url: () => sessionUrl(missing),
                status: 404,
                code: 'SESSION_NOT_FOUND',
                source: {},
              },
            ]
          : [
              {
                ...base,
                name: `${row.name} with a text/plain body`,
                url: () => sessionUrl(existing, suffix),
                options: text,
                status: 415,
                code: 'UNSUPPORTED_MEDIA_TYPE',
                source: {},
              },
            ]),
        ...(method !== 'GET' && row.route !== SESSION
          ? [
              {
                ...base,
                name: `${row.name} of an unknown session`,
                url: () => sessionUrl(missing, suffix),
                options: { body: BODY[suffix] },
                status: 404,
                code: 'SESSION_NOT_FOUND',
                source: {},
              },
            ]
          : []),
      ];
    }),
    {
      name: 'AddCartItems with a quantity that is not a number',
      route: `${SESSION}/cart_items`,
      method: 'post',
      url: () => sessionUrl(existing, '/cart_items'),
      options: { body: { cartItems: [{ sku: 'a', quantity: 'x', price: 1 }] } },
      status: 400,
      code: 'INVALID_FIELD',
      source: { pointer: '/cartItems/0/quantity' },
    },
    {
      name: 'GetSession of an id over 1000 characters',
      route: SESSION,
      method: 'get',
      url: () => sessionUrl('x'.repeat(1001)),
      status: 400,
      code: 'INVALID_FIELD',
      source: { pointer: '/customerSessionId' },
    },
    {
      name: 'UpdateSession with broken JSON',
      route: SESSION,
      method: 'put',
      url: () => sessionUrl(missing),
      options: { rawBody: '{"customerSession":' },
      status: 400,
      code: 'INVALID_JSON',
      source: {},
    },
    {
      name: 'UpdateSession over 5 MiB',
      route: SESSION,
      method: 'put',
      url: () => sessionUrl(missing),
      options: { rawBody: `{"customerSession":{"attributes":{"a":"${'x'.repeat(5 * 1024 * 1024)}"}}}` },
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
      source: {},
    },
    {
      name: 'UpdateSession with a stale If-Match',
      route: SESSION,
      method: 'put',
      url: () => sessionUrl(existing),
      options: { headers: { 'If-Match': '"7"' }, body: { customerSession: {} } },
      status: 412,
      code: 'PRECONDITION_FAILED',
      source: {},
    },
    {
      name: 'UpdateSession reusing an Idempotency-Key',
      route: SESSION,
      method: 'put',
      url: () => sessionUrl(reused),
      options: {
        headers: { 'Idempotency-Key': `k-${run}` },
        body: { customerSession: { profileId: 'other' } },
      },
      status: 422,
      code: 'IDEMPOTENCY_KEY_REUSED',
      source: {},
      before: () =>
        call('PUT', sessionUrl(reused), {
          headers: { 'Idempotency-Key': `k-${run}` },
          body: { customerSession: {} },
        }),
    },
    {
      name: 'ReopenSession of an open session',
      route: `${SESSION}/reopen`,
      method: 'put',
      url: () => sessionUrl(existing, '/reopen'),
      status: 409,
      code: 'ILLEGAL_STATE_TRANSITION',
      source: {},
    },
    {
      name: 'a management query with an integration key',
      route: `${APPLICATION}/sessions`,
      method: 'get',
      url: () => '/v1/applications/1/sessions',
      options: integrationKeyOnly,
      status: 401,
      code: 'UNAUTHORIZED',
      source: {},
    },
    {
      name: 'a management query of application 0',
      route: `${APPLICATION}/sessions`,
      method: 'get',
      url: () => '/v1/applications/0/sessions',
      options: asManagement,
      status: 400,
      code: 'INVALID_FIELD',
      source: { pointer: '/applicationId' },
    },
    {
      name: 'a management list with an unknown query parameter',
      route: `${APPLICATION}/sessions`,
      method: 'get',
      url: () => '/v1/applications/1/sessions?colour=red',
      options: asManagement,
      status: 400,
      code: 'UNKNOWN_FIELD',
      source: { parameter: 'colour' },
    },
    {
      name: 'a daily report over too long a range',
      route: `${APPLICATION}/analytics/daily`,
      method: 'get',
      url: () => '/v1/applications/1/analytics/daily?from=2000-01-01&to=2030-01-01',
      options: asManagement,
      status: 400,
      code: 'LIMIT_EXCEEDED',
      source: { parameter: 'to' },
    },
    {
      name: 'GetSession of an id that is not valid percent-encoding',
      route: SESSION,
      method: 'get',
      url: () => '/v2/customer_sessions/%FF',
      status: 400,
      code: 'INVALID_FIELD',
      source: { pointer: '/customerSessionId' },
    },
    {
      name: 'CloseSession of an id that is not valid percent-encoding',
      route: `${SESSION}/close`,
      method: 'post',
      url: () => '/v2/customer_sessions/%zz/close',
      status: 400,
      code: 'INVALID_FIELD',
      source: { pointer: '/customerSessionId' },
    },
    {
      name: 'a managed session whose id is not valid percent-encoding',
      route: `${APPLICATION}/sessions/{id}`,
      method: 'get',
      url: () => '/v1/applications/1/sessions/%',
      options: asManagement,
      status: 400,
      code: 'INVALID_FIELD',
      source: { pointer: '/id' },
    },
    {
      name: 'an unknown managed session',
      route: `${APPLICATION}/sessions/{id}`,
      method: 'get',
      url: () => '/v1/applications/1/sessions/999999999',
      options: asManagement,
      status: 404,
      code: 'SESSION_NOT_FOUND',
      source: {},
    },
    {
      name: 'an unknown customer profile',
      route: `${APPLICATION}/customer_profiles/{profileId}`,
      method: 'get',
      url: () => `/v1/applications/1/customer_profiles/nobody-${run}`,
      options: asManagement,
      status: 404,
      code: 'PROFILE_NOT_FOUND',
      source: {},
    },
  ];

  beforeAll(async () => {
    const created = await call('PUT', sessionUrl(existing), { body: { customerSession: { cartItems: [] } } });
    expect(created.status).toBe(200);
  });

  it.each(probes)('$name: $status $code, documented there and shaped as documented', async (probe) => {
    await probe.before?.();
    const reply = await call(probe.method.toUpperCase(), probe.url(), probe.options);
    expect({ status: reply.status, code: reply.body?.errors?.[0]?.title }).toEqual({
      status: probe.status,
      code: probe.code,
    });
    const documented = operation(probe.route, probe.method).responses[String(probe.status)];
    expect(documented).toBeDefined();
    expect(errorCodesOf(documented!)).toContain(probe.code);
    const schema = documented!.content!['application/json']!.schema!;
    expect(problems(reply.body, schema)).toEqual([]);
    if (probe.source !== undefined) expect(reply.body.errors[0].source).toEqual(probe.source);
    const example = documented!.content!['application/json']!.examples![probe.code]!.value as {
      message: string;
      errors: { details: string; source?: object }[];
    };
    // An error at no one place is documented so: the example of its code has source {} too.
    if (probe.source !== undefined && Object.keys(probe.source).length === 0) {
      expect(example.errors[0]!.source).toEqual({});
    }
    // An example of an error at the same kind of place (a query parameter, a pointer, none) is worded as the
    // API words this one: "Invalid request: " before its details (a refused body field or query parameter), or
    // its details alone.
    const wording = (body: { message: string; errors: { details: string; source?: object }[] }) => ({
      at: Object.keys(body.errors[0]!.source ?? {}).join(),
      message: body.message.replace(body.errors[0]!.details, '<details>'),
    });
    const documentedWording = wording(example);
    if (documentedWording.at === wording(reply.body).at)
      expect(documentedWording).toEqual(wording(reply.body));
    expect(reply.headers.get('x-request-id')).toBeTruthy();
  });
});
