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
export { DnsClient, DnsLookupError, dnsFailureCode, MAX_CNAME_DEPTH, type DnsClientOptions, type DnsFailureKind, type MxRecord } from './dns/resolver.js';
export { isNonPublicAddress } from './dns/address-policy.js';
export { parsePolicy, serializePolicy, MAX_AGE_LIMIT, POLICY_MAX_BYTES, type Policy, type PolicyMode, type PolicyParseResult } from './mtasts/policy.js';
export { parseStsRecord, selectStsRecord, type StsRecord } from './mtasts/record.js';
export { matchingPattern, mxPatternMatches } from './mtasts/mx.js';
export { fetchPolicy, POLICY_PATH, type FetchPolicyOptions, type PolicyFetchResult } from './mtasts/fetch.js';
export { parseTlsRptRecord, selectTlsRptRecord, type TlsRptRecord } from './tlsrpt/record.js';
export { certificateMatchesHost, hostMatchesDnsId } from './tls/identity.js';
export type { CertificateReport } from './tls/certificate.js';
export { trustStore, parseTrustMode, TRUST_MODES, type TrustMode, type TrustStore, type TrustStoreOptions } from './tls/trust.js';
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
export {
  parseReport, reportFromJson, countedPolicyType, POLICY_TYPES, REGISTERED_RESULT_TYPES, DEFAULT_PARSE_LIMITS,
  type TlsReport, type ReportPolicy, type ReportPolicyType, type FailureDetail, type ReportWarning, type ReportError,
  type ReportParseResult, type ParseLimits,
} from './tlsrpt/report.js';
export { ReportStore, type ReportStoreOptions, type ReportTables, type DkimInfo, type InsertOutcome, type StoredReportInput } from './reports/store.js';
export { ingestPayload, IntakeError, DEFAULT_LIMITS, type ReportPayload, type ImportItem, type IntakeLimits } from './reports/ingest.js';
export { sniffContent, decodePayload, type ContentKind } from './reports/decode.js';
export { importReports, type ImportReportsOptions } from './reports/import.js';
export { summarizeReports, type ReportSummary, type DomainSummary, type DaySummary, type SessionCounts, type SummaryOptions } from './reports/summary.js';
export { listReports, getReport, type ReportList, type ReportListEntry, type ReportListFilter, type ReportDetail } from './reports/list.js';
export { databaseSpec, DEFAULT_DB } from './store/sql.js';
export {
  importMessage, importMbox, importMaildir, pollImap, isMaildir, looksLikeMbox, looksLikeMessage, verifyDkim, ImapPollError,
  type MailImportOptions, type ImapSourceConfig, type DkimOutcome,
} from './reports/mail/index.js';
export {
  createReportHandler, startReportReceiver, REPORT_MEDIA_TYPES, type ReportHandler, type ReportHandlerOptions, type ReportReceiver,
  type ReportReceiverOptions,
} from './reports/receiver.js';
export {
  AlertOutbox, DeliveryError, signBody, deliveryId, backoffMs, renderPayload, summaryLine, outboxSummary,
  type OutboxSummary, type AlertsConfig, type AlertOutboxOptions, type AlertPayload, type AlertLog, type OutboxRow,
} from './monitor/alerts.js';
export {
  advise, gatherEvidence, nextMaxAge, DEFAULT_ADVISOR_CONFIG, MAX_AGE_STEPS,
  type Advice, type AdviceEvidence, type AdviceProposal, type AdvisorCheck, type AdvisorConfig, type AdvisorInput, type AdvisorReports, type Recommendation,
} from './monitor/advisor.js';
export { adviseDomain, adviseDomains, reportWindow, NoCheckError, type AdviseOptions } from './monitor/advise-data.js';
export {
  loadMonitorConfig, parseMonitorConfig, DEFAULT_ADVISOR, type MonitorConfig, type ImapConfig,
} from './monitor/config.js';
export {
  evaluate as evaluateMonitorEvents, observe as observeCheck, emptyState, NETWORK_CODES,
  type MonitorEvent, type EventState, type Observation as MonitorObservation, type DomainState, type CertRecord, type TlsRptDay, type EvaluateOptions,
} from './monitor/events.js';
export {
  openMonitorDb, initMonitorSchema, latestCheck, latestChecks, checkHistory, policyHistory, passingSince, listEvents, monitoredDomains,
  applyRetention, type CheckRecord, type PolicyRecord, type StoredFinding, type EventFilter,
} from './monitor/history.js';
export { monitorStatus, type DomainStatus, type StatusOptions, type TlsRptTotals } from './monitor/status.js';
export { Monitor, runMonitorRound, lastCompleteDay, type MonitorOptions, type RoundResult, type Outbox, type TlsRptDayProvider } from './monitor/monitor.js';
