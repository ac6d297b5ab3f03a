/**
 * The test world: real DNS, HTTPS and SMTP servers on loopback reproducing healthy and broken
 * MTA-STS deployments, for the test suite, benchmarks and `mtasts demo`.
 *
 * @example
 * ```ts
 * import { createWorld, SCENARIOS } from 'mtasts/testworld';
 * const world = await createWorld({ domains: SCENARIOS.map((s) => s.spec) });
 * // resolver.setServers([world.dnsServer]); trust world.caPem; HTTPS on world.httpsPort, SMTP on world.smtpPort
 * await world.close();
 * ```
 */
export { createTestCA, type IssueOptions, type IssuedCert, type TestCA } from './ca.js';
export {
  DEFAULT_TTL, normalizeName, startDnsServer, Zone,
  type DnsServer, type NameBehaviour, type ZoneRecord, type ZoneRecordType,
} from './dns-server.js';
export {
  POLICY_PATH, startHttpsServer,
  type Behaviour, type CertPair, type CertSource, type HttpsServer,
} from './https-server.js';
export { startSmtpServer, type ReceivedMessage, type SmtpServer, type SmtpServerOptions, type SmtpVariant } from './smtp-server.js';
export {
  createWorld, policyText, worldName, WORLD_ADDRESSES,
  type CertVariant, type DomainHttp, type DomainSpec, type MxSmtp, type MxSpec, type World,
} from './world.js';
export { SCENARIOS, type Scenario } from './scenarios.js';
export { freePort } from './ports.js';
