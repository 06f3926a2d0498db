/**
 * The state a session's events fold to, and the `CustomerSessionV2` view the API returns.
 * Money stays an exact decimal string in the state; the view turns it into JSON numbers.
 */
import type { SessionStatus } from './commands';
import type { CartItemData, Decimal } from './events';

export interface CartLine extends CartItemData {
  position: number;
  returnedQuantity: number;
}

export interface ReturnRecord {
  id: number;
  created: string;
  applicationId: number;
  /** The session's internal id (Talon.One's `sessionId`). */
  sessionId: number;
  sessionIntegrationId: string;
  /** The session's profile when the units were returned (Talon.One's `profileIntegrationId`; "" anonymous). */
  profileIntegrationId: string;
  returnedCartItems: { position: number; sku: string; quantity: number }[];
}

export interface SessionState {
  id: number;
  applicationId: number;
  integrationId: string;
  created: string;
  updated: string;
  profileId: string;
  storeIntegrationId?: string;
  couponCodes: string[];
  referralCode: string;
  loyaltyCards: string[];
  identifiers: string[];
  state: SessionStatus;
  cartItems: CartLine[];
  additionalCosts: Record<string, { price: Decimal }>;
  attributes: Record<string, unknown>;
  firstSession: boolean;
  updateCount: number;
  /** Id of the command whose events were folded last; a new id means a new accepted request. */
  lastCommandId: string;
  returns: ReturnRecord[];
}

export interface CartItemView {
  name?: string;
  sku: string;
  quantity: number;
  returnedQuantity: number;
  remainingQuantity: number;
  price?: number;
  category?: string;
  product?: { name: string };
  weight?: number;
  height?: number;
  width?: number;
  length?: number;
  position: number;
  attributes?: Record<string, unknown>;
  additionalCosts?: Record<string, { price: number }>;
}

/** Talon.One's `CustomerSessionV2`, as every endpoint and the replay CLI print it (field order fixed). */
export interface CustomerSessionV2 {
  id: number;
  created: string;
  integrationId: string;
  applicationId: number;
  profileId: string;
  storeIntegrationId?: string;
  evaluableCampaignIds?: number[];
  couponCodes: string[];
  referralCode: string;
  loyaltyCards: string[];
  state: SessionStatus;
  cartItems: CartItemView[];
  additionalCosts: Record<string, { price: number }>;
  identifiers: string[];
  attributes: Record<string, unknown>;
  firstSession: boolean;
  total: number;
  cartItemTotal: number;
  cartItemAdditionalCostTotal: number;
  additionalCostTotal: number;
  updated: string;
  updateCount: number;
}
