/**
 * OpenAPI schemas of what the API answers with: `CustomerSessionV2` (as `toCustomerSessionV2` shapes it, for
 * every command, GET and the management reads) and the return record. Plain schema objects rather than DTO
 * classes: nothing validates responses, and the field list must be exactly the view's (the e2e test
 * test/openapi.e2e-spec.ts checks real responses against it, undocumented fields included).
 */
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';

const MONEY: SchemaObject = { type: 'number', description: 'Exact decimal, as a JSON number' };
const COST_MAP: SchemaObject = {
  type: 'object',
  additionalProperties: { type: 'object', properties: { price: MONEY }, required: ['price'] },
};
const FREE_FORM: SchemaObject = { type: 'object', additionalProperties: true };
const TIME: SchemaObject = { type: 'string', format: 'date-time' };
const STRINGS: SchemaObject = { type: 'array', items: { type: 'string' } };

export const CART_ITEM_VIEW_SCHEMA: SchemaObject = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    sku: { type: 'string' },
    quantity: { type: 'integer', minimum: 1 },
    returnedQuantity: { type: 'integer', minimum: 0 },
    remainingQuantity: { type: 'integer', minimum: 0 },
    price: MONEY,
    category: { type: 'string' },
    product: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
    weight: { type: 'number' },
    height: { type: 'number' },
    width: { type: 'number' },
    length: { type: 'number' },
    position: { type: 'integer', minimum: 0, description: 'Index of the item in the cart, from 0' },
    attributes: FREE_FORM,
    additionalCosts: COST_MAP,
  },
  required: ['sku', 'quantity', 'returnedQuantity', 'remainingQuantity', 'position'],
};

export const CUSTOMER_SESSION_SCHEMA: SchemaObject = {
  type: 'object',
  description: 'Talon.One CustomerSessionV2',
  properties: {
    id: { type: 'integer', minimum: 1, description: 'Internal id, unique across applications' },
    created: TIME,
    integrationId: { type: 'string' },
    applicationId: { type: 'integer' },
    profileId: { type: 'string', description: '"" = anonymous' },
    storeIntegrationId: { type: 'string' },
    evaluableCampaignIds: { type: 'array', items: { type: 'integer' }, description: 'Only with dry=true' },
    couponCodes: STRINGS,
    referralCode: { type: 'string' },
    loyaltyCards: STRINGS,
    state: { type: 'string', enum: ['open', 'closed', 'cancelled', 'partially_returned'] },
    cartItems: { type: 'array', items: CART_ITEM_VIEW_SCHEMA },
    additionalCosts: COST_MAP,
    identifiers: STRINGS,
    attributes: FREE_FORM,
    firstSession: { type: 'boolean' },
    total: MONEY,
    cartItemTotal: MONEY,
    cartItemAdditionalCostTotal: MONEY,
    additionalCostTotal: MONEY,
    updated: { ...TIME, description: 'Time of the latest event' },
    updateCount: { type: 'integer', minimum: 1 },
  },
  required: [
    'id',
    'created',
    'integrationId',
    'applicationId',
    'profileId',
    'couponCodes',
    'referralCode',
    'loyaltyCards',
    'state',
    'cartItems',
    'additionalCosts',
    'identifiers',
    'attributes',
    'firstSession',
    'total',
    'cartItemTotal',
    'cartItemAdditionalCostTotal',
    'additionalCostTotal',
    'updated',
    'updateCount',
  ],
};

export const RETURN_RECORD_SCHEMA: SchemaObject = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    created: TIME,
    applicationId: { type: 'integer' },
    sessionId: { type: 'integer', description: "The session's internal id (`customerSession.id`)" },
    sessionIntegrationId: { type: 'string' },
    profileIntegrationId: {
      type: 'string',
      description: 'The profile of the session when the units were returned ("" for an anonymous session)',
    },
    returnedCartItems: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          position: { type: 'integer', minimum: 0 },
          sku: { type: 'string' },
          quantity: { type: 'integer', minimum: 1 },
        },
        required: ['position', 'sku', 'quantity'],
      },
    },
  },
  required: [
    'id',
    'created',
    'applicationId',
    'sessionId',
    'sessionIntegrationId',
    'profileIntegrationId',
    'returnedCartItems',
  ],
};
