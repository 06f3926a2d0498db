import type { IntegrationKey, ManagementKey } from './api-keys';

/** The keys the running process accepts, after development keys were filled in. */
export class ApiKeys {
  constructor(
    readonly integration: ReadonlyMap<string, IntegrationKey>,
    readonly management: ReadonlyMap<string, ManagementKey>,
  ) {}
}
