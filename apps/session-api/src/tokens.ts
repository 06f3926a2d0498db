/**
 * Injection tokens of the values the app is built with (app.module.ts provides them). In a file of their own so
 * that any provider can inject them without importing app.module, which imports every provider.
 */
export const APP_CONFIG = Symbol('APP_CONFIG');
export const LOGGER = Symbol('LOGGER');
/** The projector this process runs (`npm start`), for /health/ready; not provided without one. */
export const PROJECTOR_HEALTH = Symbol('PROJECTOR_HEALTH');
