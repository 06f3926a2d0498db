/**
 * Every limit the domain enforces, so no entry point (HTTP, replay tooling, tests) can bypass one.
 * The ones the spec names come first; the rest are our rules (see README.md).
 */
export const SESSION_LIMITS = {
  integrationIdLength: 1000,
  profileIdLength: 1000,
  storeIntegrationIdLength: 1000,
  couponCodeLength: 100,
  referralCodeLength: 100,
  loyaltyCards: 1,
  identifiers: 5,
  /** Bytes of the UTF-8 encoding of JSON.stringify(attributes). */
  attributesBytes: 65536,
  skuLength: 1000,
  cartItemsPerRequest: 1000,
  quantityPerRequest: 10_000,
  cartLines: 1000,
  returnedCartItemsPerRequest: 1000,
  // Our rules, where the spec is silent:
  couponCodes: 100,
  loyaltyCardLength: 1000,
  identifierLength: 1000,
  evaluableCampaignIds: 1000,
  /** name, category, product.name of a cart item. */
  textLength: 1000,
  /** Entries of an additionalCosts map (session level and per item). */
  additionalCosts: 100,
  additionalCostNameLength: 1000,
  /** Largest accepted price: keeps every total a finite JSON number. */
  maxMoney: 1e15,
  /** Nesting depth of free-form attributes (session and item). */
  jsonDepth: 64,
  /**
   * Bytes of event data (UTF-8 JSON) one command may append, and that the event closing, cancelling or
   * reopening the session may need for its lines: EventStoreDB refuses an append over its maximum append
   * size (1 MiB by default), and a session whose close could not be written could never close. What is
   * left of the 1,048,576 bytes is room for the events' metadata and types.
   */
  eventBytes: 1_000_000,
} as const;
