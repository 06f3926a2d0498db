export * from './commands';
export * from './events';
export * from './errors';
export * from './state';
export { checkInput, decide, mayChangeNothing, profileToClaim } from './decide';
export { evolve, fold } from './evolve';
export { SESSION_LIMITS } from './limits';
export { charLength, checkIntegrationId, checkString, NULL_IN_RETURN_ENTRY } from './validation';
export { isPlainObject } from './json';
export { addMoney, fastMoneySum, fastNormalizeMoney, moneyToNumber, subtractMoney } from './money';
export {
  SESSION_EVENT_READ_VERSIONS,
  SESSION_EVENT_WRITE_VERSIONS,
  SESSION_EVENT_SCHEMAS,
  EventSchemas,
  EventSchemaError,
  EventUpcastError,
  isSchemaVersion,
  storedSchemaVersion,
  upcast,
  type EventSchemaRegistry,
  type SchemaStep,
} from './upcast';
export {
  toCustomerSessionV2,
  sessionView,
  SessionViewMemo,
  returnsOf,
  totalsOf,
  unitValue,
  returnedValueOf,
  countedRevenueOf,
  type SessionTotals,
  type ViewOptions,
} from './view';
