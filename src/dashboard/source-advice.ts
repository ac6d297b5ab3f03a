/** The advisor part of the default DashboardSource: src/monitor/advise-data.ts per domain. */
import { adviseDomain, NoCheckError } from '../monitor/advise-data.js';
import { DEFAULT_ADVISOR_CONFIG, type AdvisorConfig } from '../monitor/advisor.js';
import type { SqlDatabase } from '../store/sql.js';
import type { DashboardSource } from './data.js';

type AdvicePart = Pick<DashboardSource, 'advice'>;

export function adviceSource(db: SqlDatabase, opts: { advisor?: Record<string, number> } = {}): AdvicePart {
  const cfg: AdvisorConfig = { ...DEFAULT_ADVISOR_CONFIG, ...(opts.advisor ?? {}) };
  return {
    async advice(domain) {
      try {
        const a = await adviseDomain(db, domain, cfg);
        return { mode: a.mode, recommendation: a.recommendation, reasons: a.reasons, nextSteps: a.nextSteps, evidence: a.evidence as unknown as Record<string, unknown> };
      } catch (err) {
        // A domain never checked has no advice yet.
        if (err instanceof NoCheckError) return null;
        throw err;
      }
    },
  };
}
