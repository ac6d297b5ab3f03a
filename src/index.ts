/**
 * mtasts: MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) for Node.js.
 *
 * Pure parsing and rules (no I/O): {@link parsePolicy}, {@link serializePolicy}, {@link parseStsRecord},
 * {@link selectStsRecord}, {@link parseTlsRptRecord}, {@link matchingPattern}, {@link hostMatchesDnsId}.
 * Network steps, each bounded in time and size: {@link DnsClient}, {@link fetchPolicy}, {@link probeMx}.
 * The end-to-end check: {@link checkDomain}, {@link checkDomains}.
 */
export * from './findings.js';
export { parseDomainArgument, toALabel } from './dns/name.js';
export { DnsClient, DnsLookupError, type DnsClientOptions, type DnsFailureKind, type MxRecord } from './dns/resolver.js';
export { isNonPublicAddress } from './dns/address-policy.js';
export { parsePolicy, serializePolicy, MAX_AGE_LIMIT, POLICY_MAX_BYTES, type Policy, type PolicyMode, type PolicyParseResult } from './mtasts/policy.js';
export { parseStsRecord, selectStsRecord, type StsRecord } from './mtasts/record.js';
export { matchingPattern, mxPatternMatches } from './mtasts/mx.js';
export { fetchPolicy, POLICY_PATH, type FetchPolicyOptions, type PolicyFetchResult } from './mtasts/fetch.js';
export { parseTlsRptRecord, selectTlsRptRecord, type TlsRptRecord } from './tlsrpt/record.js';
export { certificateMatchesHost, hostMatchesDnsId } from './tls/identity.js';
export type { CertificateReport } from './tls/certificate.js';
export { probeMx, type MxProbeResult, type ProbeOptions } from './smtp/probe.js';
export { checkDomain, checkDomains, type CheckOptions, type CheckManyOptions, type DomainReport, type Observation } from './check/check.js';
export { discoverPolicy, type Discovery } from './mtasts/discover.js';
export {
  PolicyResolver, type PolicyResolverOptions, type Resolution, type ResolutionReason, type ResolveOptions,
  type ResolverLogger, type ResolverStats,
} from './resolver/resolver.js';
export { evaluate, tlsResultFromProbe, type Action, type Decision, type TlsResult, type TlsRptResultType } from './resolver/evaluate.js';
export { parseResolverConfig, loadResolverConfig, type ResolverConfig } from './resolver/config.js';
export { startSocketmapServer, type SocketmapServer } from './resolver/server.js';
export { MemoryStore, SqliteStore, RedisStore, PostgresStore, type CachedPolicy, type PolicyStore } from './store/index.js';
export { policyId, proposeMxPatterns, proposePolicy, publishRecords, formatZone, type DomainRecords, type HostTarget, type ZoneEntry } from './publish/records.js';
export { loadConfig, parseConfig, ConfigError, type ServeConfig, type DomainConfig, type ConfigIssue } from './serve/config.js';
export { PolicyServer, type PolicyServerOptions, type ServerAddresses } from './serve/server.js';
