/**
 * Commands of the session decider. Everything the decision needs arrives inside the command:
 * the time (`now`, ISO-8601 UTC), ids drawn by the caller, and the profile's first-session fact.
 * Input shapes mirror Talon.One's `NewCustomerSessionV2`; money arrives as JSON numbers and is
 * turned into exact decimals by the domain.
 */

export type SessionStatus = 'open' | 'closed' | 'cancelled' | 'partially_returned';

export interface PriceInput {
  price: number;
}

export interface CartItemInput {
  sku: string;
  quantity: number;
  name?: string;
  category?: string;
  price?: number;
  product?: { name: string };
  weight?: number;
  height?: number;
  width?: number;
  length?: number;
  attributes?: Record<string, unknown>;
  additionalCosts?: Record<string, PriceInput>;
}

/**
 * The writable fields of an UpdateSession. `undefined` and `null` both mean "keep the stored value";
 * a present value replaces it (`[]` / `{}` / `""` clear where the spec says so).
 */
export interface SessionPatch {
  profileId?: string | null;
  storeIntegrationId?: string | null;
  evaluableCampaignIds?: number[] | null;
  couponCodes?: string[] | null;
  referralCode?: string | null;
  loyaltyCards?: string[] | null;
  identifiers?: string[] | null;
  state?: SessionStatus | null;
  cartItems?: CartItemInput[] | null;
  additionalCosts?: Record<string, PriceInput> | null;
  attributes?: Record<string, unknown> | null;
}

interface CommandBase {
  applicationId: number;
  integrationId: string;
  /**
   * Time of the decision, ISO-8601 UTC; becomes the time of every event it emits — or the time of the session's
   * latest event when that is later: event times never go backwards in a stream.
   */
  now: string;
  /** Unique id of this command (also written to the events' metadata by the adapter). */
  commandId: string;
}

export interface UpdateSession extends CommandBase {
  type: 'UpdateSession';
  /** Internal id to give the session if this command creates it. Ignored otherwise. */
  sessionId: number;
  patch: SessionPatch;
  /**
   * Outcome of the profile claim (see `profileToClaim`): whether this session is the first one of
   * the profileId it sets. Ignored when the command does not set a new non-empty profileId.
   */
  firstSession?: boolean;
}

export interface AddCartItems extends CommandBase {
  type: 'AddCartItems';
  cartItems: CartItemInput[];
}

export interface CloseSession extends CommandBase {
  type: 'CloseSession';
}

export interface CancelSession extends CommandBase {
  type: 'CancelSession';
}

export interface ReturnedCartItemInput {
  position?: number;
  sku?: string;
  quantity?: number;
}

export interface ReturnItems extends CommandBase {
  type: 'ReturnItems';
  /** Id of the return record this command creates (safe integer > 0, drawn by the caller). */
  returnId: number;
  returnedCartItems: ReturnedCartItemInput[];
}

export interface ReopenSession extends CommandBase {
  type: 'ReopenSession';
}

export type SessionCommand =
  UpdateSession | AddCartItems | CloseSession | CancelSession | ReturnItems | ReopenSession;
