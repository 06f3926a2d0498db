/**
 * Refusals of the domain. Each carries a stable machine code; the HTTP layer maps the category to a
 * status in exactly one place (invalid → 400, not_found → 404, conflict → 409).
 */
export type DomainErrorCategory = 'invalid' | 'not_found' | 'conflict';

export const DomainErrorCode = {
  /** A field breaks a rule or limit (400). */
  InvalidField: 'INVALID_FIELD',
  /**
   * More than 1000 cart items or Σ quantity > 10 000 in one request, a cart beyond 1000 lines, or more
   * than 1000 entries in one return (400). Every other rule or limit of a field is INVALID_FIELD.
   */
  LimitExceeded: 'LIMIT_EXCEEDED',
  /** A return names a position or sku the cart does not have (400). */
  CartItemNotFound: 'CART_ITEM_NOT_FOUND',
  /** The command needs an existing session (404). */
  SessionNotFound: 'SESSION_NOT_FOUND',
  /** The state machine refuses the transition (409). */
  IllegalStateTransition: 'ILLEGAL_STATE_TRANSITION',
  /** A closed / partially returned / cancelled session's writable fields cannot change (409). */
  SessionNotModifiable: 'SESSION_NOT_MODIFIABLE',
  /** A return asks for more units than remain on the line (409). */
  ReturnQuantityExceeded: 'RETURN_QUANTITY_EXCEEDED',
} as const;
export type DomainErrorCode = (typeof DomainErrorCode)[keyof typeof DomainErrorCode];

export const DOMAIN_ERROR_CATEGORY: Record<DomainErrorCode, DomainErrorCategory> = {
  INVALID_FIELD: 'invalid',
  LIMIT_EXCEEDED: 'invalid',
  CART_ITEM_NOT_FOUND: 'invalid',
  SESSION_NOT_FOUND: 'not_found',
  ILLEGAL_STATE_TRANSITION: 'conflict',
  SESSION_NOT_MODIFIABLE: 'conflict',
  RETURN_QUANTITY_EXCEEDED: 'conflict',
};

export class DomainError extends Error {
  override readonly name = 'DomainError';
  readonly category: DomainErrorCategory;

  constructor(
    readonly code: DomainErrorCode,
    message: string,
    /** JSON pointer relative to the command's input, e.g. "/cartItems/3/quantity". */
    readonly pointer?: string,
    /**
     * `message` says what the value at `pointer` must be without naming it ("must be a string"): whoever
     * shows it names the field first (the API: "price must be a string"). False for a whole sentence.
     */
    readonly predicate = false,
  ) {
    super(message);
    this.category = DOMAIN_ERROR_CATEGORY[code];
  }
}

/**
 * 404 for the session of the URL: the one wording GET and every command use. The id is JSON-quoted, so one
 * holding spaces, quotes or line breaks reads unambiguously.
 */
export function sessionNotFound(integrationId: string): DomainError {
  return new DomainError(
    DomainErrorCode.SessionNotFound,
    `No customer session ${JSON.stringify(integrationId)}`,
  );
}
