import unhomoglyph from 'unhomoglyph';
import { cutText, lineText } from './requester-text.ts';

/**
 * What a label looks like, for comparing: compatibility forms folded (NFKC: `ａｐｐｒｏｖｅｄ`), case
 * folded, and every character replaced by the one it is confusable with (then folded again: `0` maps to `O`) (Unicode TR39 data, via
 * unhomoglyph: Cyrillic `а` looks like Latin `a`), so `Аpprovеd` is seen as `approved`.
 */
const lookalike = (label: string) => unhomoglyph(label.normalize('NFKC').toLowerCase()).toLowerCase();

export interface RequesterLabelRules {
  /**
   * Labels Countersign sets or reads itself (the mapping's approved / rejected / pending labels,
   * `escalate`, …), compared without case: providers such as GitHub treat `Approved` and
   * `approved` as one label.
   */
  reserved: readonly string[];
  /** Prefixes of Countersign's own label families (`risk:`, `escalated:`, `countersign`). */
  reservedPrefixes: readonly string[];
  /** The provider's longest label (GitHub 50 characters, Jira 255). */
  maxLength: number;
  /** The provider's own shape, applied before the checks (Jira: no spaces). */
  shape?: (label: string) => string;
}

/**
 * The request's labels as a ticket may carry them. A label the agent sends must not impersonate
 * one Countersign sets: `approved` on a pending issue would show a decision nobody made (and a
 * reviewer adding the real label would fire no event, as it is already there), `risk:low` on a
 * high-risk request would understate it, `countersign-apr_…` in Jira would claim another approval's
 * issue. Such labels are left off the ticket (they still feed the label rules, and the ticket
 * lists every label as sent). Labels are one line, invisible characters shown, cut to the
 * provider's length, deduplicated without case; look-alikes (`Аpproved` in Cyrillic) count as the label they imitate.
 *
 * @example requesterLabels(['urgent', 'Approved'], { reserved: ['approved'], reservedPrefixes: ['risk:'], maxLength: 50 }) // ['urgent']
 */
export function requesterLabels(labels: readonly string[], rules: RequesterLabelRules): string[] {
  const reserved = new Set(rules.reserved.map(lookalike));
  const prefixes = rules.reservedPrefixes.map(lookalike);
  const seen = new Set<string>();
  const kept: string[] = [];
  for (const label of labels) {
    const shaped = (rules.shape ?? ((l: string) => l))(lineText(label));
    const fitted = shaped.length > rules.maxLength ? `${cutText(shaped, rules.maxLength - 1).text}…` : shaped;
    const key = fitted.toLowerCase();
    // Checked before and after the cut: `countersign-apr_…` cut short is still Countersign's.
    const own = [lookalike(shaped), lookalike(fitted)].some((form) => reserved.has(form) || prefixes.some((prefix) => form.startsWith(prefix)));
    if (!fitted || own || seen.has(key)) continue;
    seen.add(key);
    kept.push(fitted);
  }
  return kept;
}
