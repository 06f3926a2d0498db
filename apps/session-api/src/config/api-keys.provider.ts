import type { IntegrationKey, ManagementKey } from './api-keys';

// The scheme name is case-insensitive (RFC 9110 §11.1); the key is not.
const INTEGRATION_SCHEME = /^ApiKey-v1\s+(\S+)\s*$/i;
const MANAGEMENT_SCHEME = /^ManagementKey-v1\s+(\S+)\s*$/i;

/**
 * The keys the running process accepts, after development keys were filled in, and the one place that reads
 * an `Authorization` header into a key (the guards and the JSON body reader ask here, nothing else parses it).
 */
export class ApiKeys {
  constructor(
    readonly integration: ReadonlyMap<string, IntegrationKey>,
    readonly management: ReadonlyMap<string, ManagementKey>,
  ) {}

  /** The integration key of `Authorization: ApiKey-v1 <key>`, or undefined for any other header value. */
  integrationKeyOf(authorization: string | undefined): IntegrationKey | undefined {
    return lookUp(this.integration, INTEGRATION_SCHEME, authorization);
  }

  /** The management key of `Authorization: ManagementKey-v1 <key>`, or undefined for any other value. */
  managementKeyOf(authorization: string | undefined): ManagementKey | undefined {
    return lookUp(this.management, MANAGEMENT_SCHEME, authorization);
  }
}

function lookUp<T>(keys: ReadonlyMap<string, T>, scheme: RegExp, header: string | undefined): T | undefined {
  const match = header === undefined ? null : scheme.exec(header);
  return match ? keys.get(match[1]!) : undefined;
}
