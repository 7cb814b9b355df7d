/**
 * Clean-up, quality filters and exact de-duplication, in the spirit of the paper's CCNet
 * pipeline (normalise, de-duplicate lines, drop low-quality documents) and its book-level
 * de-duplication:
 *
 * 1. normalise: strip a BOM, CRLF / CR -> LF, drop C0/C1 control characters (tab and
 *    newline stay), trailing spaces of each line, runs of 3+ newlines -> one blank line;
 *    Optionally (code sources) a leading licence/copyright block comment is removed, as the
 *    paper removes boilerplate headers from GitHub files with regular expressions;
 * 2. optional exact de-duplication of lines within a source: a line (trimmed, at least
 *    `lineMinChars` long, so "}" or "CHAPTER I" are never touched) seen earlier in the same
 *    source is removed (CCNet removes repeated paragraphs: boilerplate, headers, licences);
 * 3. quality filters: too short, too few letters among the non-space characters, too many
 *    repeated lines inside the document (a Gopher-style repetition filter);
 * 4. exact de-duplication of whole documents across all sources, on a CCNet-style key
 *    (lower case, accents and punctuation removed, digits -> 0, whitespace collapsed) so
 *    trivially different copies are caught too.
 *
 * Memory stays bounded: both de-duplications store 8-byte SHA-1 prefixes in a Hash64Set
 * (16 bytes per entry at most), never the text.
 */
import { digest, Hash64Set } from "./hash.js";

export interface FilterConfig {
  /** Drop documents shorter than this many characters (after clean-up). */
  minChars: number;
  /** Drop documents whose letters are fewer than this fraction of their non-space characters. */
  minAlphaFraction: number;
  /** Drop documents where more than this fraction of their (trimmed, non-empty, >= 8 chars) lines are repeats of an earlier line of the same document. */
  maxRepeatedLineFraction: number;
}

export const DEFAULT_FILTERS: FilterConfig = {
  minChars: 64,
  minAlphaFraction: 0.5,
  maxRepeatedLineFraction: 0.3,
};

export type DropReason = "empty" | "tooShort" | "lowAlpha" | "repeatedLines";
export const DROP_REASONS: readonly DropReason[] = ["empty", "tooShort", "lowAlpha", "repeatedLines"];

export interface CleanStats {
  /** Documents read. */
  documents: number;
  /** Documents kept (after filters and de-duplication). */
  kept: number;
  dropped: Record<DropReason, number>;
  /** Whole documents dropped as exact duplicates of an earlier one. */
  duplicateDocuments: number;
  /** Lines removed as repeats of an earlier line of the same source (when enabled). */
  duplicateLines: number;
  /** Characters of the kept documents. */
  keptChars: number;
}

export function newCleanStats(): CleanStats {
  return { documents: 0, kept: 0, dropped: { empty: 0, tooShort: 0, lowAlpha: 0, repeatedLines: 0 }, duplicateDocuments: 0, duplicateLines: 0, keptChars: 0 };
}

const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g;

/** Line endings, control characters, trailing spaces, blank-line runs, surrounding blank lines. */
export function normalizeText(text: string): string {
  let t = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  t = t.replace(/\r\n?/g, "\n");
  t = t.replace(CONTROL, "");
  t = t.replace(/[ \t\u00a0]+$/gm, "");
  t = t.replace(/\n{3,}/g, "\n\n");
  t = t.replace(/^\n+/, "").replace(/\s+$/, "");
  return t;
}

const HEADER_COMMENT = /^\s*(?:\/\*[\s\S]*?\*\/|(?:\/\/[^\n]*\n)+)/;

/** Removes a leading block (or run of line) comment when it mentions a licence or copyright. */
export function stripLicenseHeader(text: string): string {
  const m = HEADER_COMMENT.exec(text);
  if (m === null || !/licen[cs]e|copyright/i.test(m[0])) return text;
  return text.slice(m[0].length).replace(/^\s*\n/, "");
}

/** The CCNet-style key used for document de-duplication. */
export function dedupKey(text: string): string {
  return text
    .toLowerCase()
    .normalize("NFD")
    .replace(/\p{M}+/gu, "")
    .replace(/\p{N}/gu, "0")
    .replace(/[\p{P}\p{S}]+/gu, "")
    .replace(/\s+/g, " ")
    .trim();
}

/** Letters / non-whitespace characters (0 for a text without any). */
export function alphaFraction(text: string): number {
  let letters = 0;
  let visible = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c === 32 || c === 10 || c === 9 || c === 13) continue;
    visible++;
    if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) letters++;
    else if (c >= 128 && /\p{L}/u.test(ch)) letters++;
  }
  return visible === 0 ? 0 : letters / visible;
}

/** Fraction of the document's trimmed lines (>= 8 chars) that repeat an earlier line of it. */
export function repeatedLineFraction(text: string): number {
  const seen = new Set<string>();
  let lines = 0;
  let repeats = 0;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.length < 8) continue;
    lines++;
    if (seen.has(line)) repeats++;
    else seen.add(line);
  }
  return lines === 0 ? 0 : repeats / lines;
}

/** The first filter a (normalised) document fails, or null when it passes. */
export function qualityCheck(text: string, cfg: FilterConfig = DEFAULT_FILTERS): DropReason | null {
  if (text.trim().length === 0) return "empty";
  if (text.length < cfg.minChars) return "tooShort";
  if (alphaFraction(text) < cfg.minAlphaFraction) return "lowAlpha";
  if (repeatedLineFraction(text) > cfg.maxRepeatedLineFraction) return "repeatedLines";
  return null;
}

/** Removes lines already seen in this source (trimmed, at least `minChars` long). */
export class LineDeduplicator {
  private readonly seen = new Hash64Set();
  constructor(readonly minChars = 32) {}

  /** Returns the text without repeated lines and how many were removed. */
  filter(text: string): { text: string; removed: number } {
    const lines = text.split("\n");
    const out: string[] = [];
    let removed = 0;
    for (const line of lines) {
      const key = line.trim();
      if (key.length >= this.minChars && !this.seen.addDigest(digest(key))) {
        removed++;
        continue;
      }
      out.push(line);
    }
    return removed === 0 ? { text, removed } : { text: normalizeText(out.join("\n")), removed };
  }
}

export interface CleanerOptions {
  filters?: Partial<FilterConfig>;
  /** Remove lines repeated within the source (off by default: it would also remove legitimately repeated lines). */
  dedupLines?: boolean;
  lineMinChars?: number;
  /** Remove a leading licence/copyright comment (code). */
  stripHeaders?: boolean;
  /** Shared across sources so a document present in two sources is kept once. Null disables document de-duplication. */
  documentHashes?: Hash64Set | null;
}

export interface CleanedDocument {
  text: string;
  /** SHA-1 of the de-duplication key (also used for the deterministic validation split). */
  hash: Buffer;
}

/** Runs normalisation, line de-duplication, filters and document de-duplication, counting each outcome. */
export class DocumentCleaner {
  readonly stats: CleanStats = newCleanStats();
  private readonly filters: FilterConfig;
  private readonly lines: LineDeduplicator | null;
  private readonly documents: Hash64Set | null;
  private readonly stripHeaders: boolean;

  constructor(opts: CleanerOptions = {}) {
    this.filters = { ...DEFAULT_FILTERS, ...opts.filters };
    this.lines = opts.dedupLines ? new LineDeduplicator(opts.lineMinChars) : null;
    this.documents = opts.documentHashes === undefined ? new Hash64Set() : opts.documentHashes;
    this.stripHeaders = opts.stripHeaders ?? false;
  }

  process(raw: string): CleanedDocument | null {
    const s = this.stats;
    s.documents++;
    let text = normalizeText(raw);
    if (this.stripHeaders) text = stripLicenseHeader(text);
    if (this.lines) {
      const r = this.lines.filter(text);
      text = r.text;
      s.duplicateLines += r.removed;
    }
    const reason = qualityCheck(text, this.filters);
    if (reason !== null) {
      s.dropped[reason]++;
      return null;
    }
    const hash = digest(dedupKey(text));
    if (this.documents && !this.documents.addDigest(hash)) {
      s.duplicateDocuments++;
      return null;
    }
    s.kept++;
    s.keptChars += text.length;
    return { text, hash };
  }
}
