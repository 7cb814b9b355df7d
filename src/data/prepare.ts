/**
 * `prepare` as a library call: a mixture of corpora -> cleaned, de-duplicated, tokenised
 * shards per source (train and validation) + manifest.json.
 *
 * Output layout (DIR):
 *   manifest.json                 sources, shards, token counts, dtype, tokenizer, weights, counts
 *   tokenizer.model               a copy of the tokenizer (when one is given); paths in the
 *                                 manifest are relative to DIR and stay inside it
 *   <source>/train-00000.bin ...  raw little-endian token arrays (see shards.ts)
 *   <source>/val-00000.bin ...    the held-out documents
 *
 * A source's `fraction` keeps a subset of its (cleaned, de-duplicated) documents, chosen by
 * another hash of the content, e.g. for a quick run on part of a corpus.
 *
 * Validation split: a document goes to validation when a hash of (seed, its content hash)
 * falls below valFraction, so the split does not depend on reading order and a document
 * (or an exact duplicate of it) is never in both splits.
 */
import { readdirSync, readFileSync, rmSync, statSync, unlinkSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { UserError } from "../util/errors.js";
import { DocumentCleaner } from "./clean.js";
import { Hash64Set, uniformFrom } from "./hash.js";
import { epochReport, normalizeWeights, type MixtureConfig } from "./mixture.js";
import { DEFAULT_EXTENSIONS, listFiles, newReadStats, readFile, sourceRoot } from "./readers.js";
import { MANIFEST_FILE, ShardWriter, writeFileAtomicSync, writeManifest, type Manifest, type ManifestSource } from "./shards.js";
import { dtypeForVocab, type TokenizerLike, type WarningSink } from "./types.js";

export interface PrepareProgress {
  /** The source being read. */
  source: string;
  /** Bytes of the input files finished so far (all sources). */
  bytesDone: number;
  bytesTotal: number;
  /** Documents read and tokens written so far (all sources). */
  documents: number;
  tokens: number;
}

export interface PrepareOptions {
  outDir: string;
  tokenizer: TokenizerLike;
  /**
   * The tokenizer.model file: copied into the dataset folder as `tokenizer.model` (so the
   * dataset is self-contained) and recorded in the manifest by that relative name.
   */
  tokenizerPath?: string | null;
  /** Tokens per shard file. Default 2^24 (32 MiB of uint16). */
  shardTokens?: number;
  onWarning?: WarningSink;
  onProgress?: (p: PrepareProgress) => void;
}

export const DEFAULT_SHARD_TOKENS = 1 << 24;

/**
 * Runs the whole pipeline and returns the manifest it wrote. A file-system failure (a
 * read-only or vanished --out, a full disk) is one line naming the path; the manifest is
 * written last, so a failed run never leaves a manifest pointing at missing shards.
 */
export async function prepareDataset(mixture: MixtureConfig, opts: PrepareOptions): Promise<Manifest> {
  try {
    return await prepareDatasetUnchecked(mixture, opts);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!(e instanceof UserError) && typeof code === "string" && /^E[A-Z]+$/.test(code)) {
      throw new UserError(`prepare into ${opts.outDir}: ${(e as Error).message}`);
    }
    throw e;
  }
}

async function prepareDatasetUnchecked(mixture: MixtureConfig, opts: PrepareOptions): Promise<Manifest> {
  const tok = opts.tokenizer;
  for (const [what, id] of [["BOS", tok.bosId], ["EOS", tok.eosId]] as const) {
    if (!(Number.isInteger(id) && id >= 0 && id < tok.vocabSize)) {
      throw new UserError(`${opts.tokenizerPath ?? "the tokenizer"}: has no ${what} token (id ${id}); prepare stores each document as BOS + tokens + EOS`);
    }
  }
  const shardTokens = opts.shardTokens ?? DEFAULT_SHARD_TOKENS;
  const dtype = dtypeForVocab(tok.vocabSize);
  const out = path.resolve(opts.outDir);
  await mkdir(out, { recursive: true });
  clearOldOutput(out, mixture.sources.map((s) => s.name));
  const tokenizerRel = opts.tokenizerPath ? copyTokenizer(opts.tokenizerPath, out) : null;

  const fileLists = await Promise.all(
    mixture.sources.map((s) => listFiles(s.paths, { extensions: s.extensions ?? DEFAULT_EXTENSIONS[s.format] })),
  );
  fileLists.forEach((files, i) => {
    if (files.length === 0) throw new UserError(`source "${mixture.sources[i]!.name}": no ${mixture.sources[i]!.format} files under ${mixture.sources[i]!.paths.join(", ")}`);
  });
  const bytesTotal = fileLists.flat().reduce((a, f) => a + statSync(f).size, 0);
  let bytesDone = 0;

  const weights = normalizeWeights(mixture.sources.map((s) => s.weight));
  const documentHashes = mixture.dedupDocuments === false ? null : new Hash64Set(1 << 16);
  const wrap = { bos: tok.bosId, eos: tok.eosId };
  const sources: ManifestSource[] = [];
  let docsBefore = 0;
  let tokensBefore = 0;

  for (let si = 0; si < mixture.sources.length; si++) {
    const src = mixture.sources[si]!;
    const cleaner = new DocumentCleaner({
      filters: { ...mixture.filters, ...src.filters },
      dedupLines: src.dedupLines ?? false,
      stripHeaders: src.stripHeaders ?? false,
      documentHashes,
    });
    const readStats = newReadStats();
    const fraction = src.fraction ?? 1;
    let subsampled = 0;
    const train = new ShardWriter(out, `${src.name}/train`, dtype, tok.vocabSize, shardTokens);
    const val = new ShardWriter(out, `${src.name}/val`, dtype, tok.vocabSize, shardTokens);
    for (const file of fileLists[si]!) {
      const readOpts: Parameters<typeof readFile>[2] = { stats: readStats, root: sourceRoot(src.paths, file) };
      if (src.field !== undefined) readOpts.field = src.field;
      if (src.split !== undefined) readOpts.split = src.split;
      if (src.chunkChars !== undefined) readOpts.chunkChars = src.chunkChars;
      if (opts.onWarning) readOpts.onWarning = opts.onWarning;
      const size = statSync(file).size;
      let inFile = 0; // characters read from this file: a byte estimate for progress within a large file
      for await (const doc of readFile(file, src.format, readOpts)) {
        inFile += doc.text.length;
        const cleaned = cleaner.process(doc.text);
        if (cleaned !== null) {
          const h = cleaned.hash;
          if (fraction < 1 && uniformFrom(mixture.seed, 0x5b5e7, h.readUInt32BE(4), h.readUInt32BE(16)) >= fraction) {
            subsampled++;
          } else {
            const isVal = mixture.valFraction > 0 && uniformFrom(mixture.seed, h.readUInt32BE(8), h.readUInt32BE(12)) < mixture.valFraction;
            (isVal ? val : train).appendDocument(tok.encode(cleaned.text), wrap);
          }
        }
        opts.onProgress?.({ source: src.name, bytesDone: bytesDone + Math.max(0, Math.min(inFile, size - 1)), bytesTotal, documents: docsBefore + cleaner.stats.documents, tokens: tokensBefore + train.tokens + val.tokens });
      }
      bytesDone += size;
      opts.onProgress?.({ source: src.name, bytesDone, bytesTotal, documents: docsBefore + cleaner.stats.documents, tokens: tokensBefore + train.tokens + val.tokens });
    }
    docsBefore += cleaner.stats.documents;
    tokensBefore += train.tokens + val.tokens;
    sources.push({
      name: src.name,
      weight: weights[si]!,
      rawWeight: src.weight,
      format: src.format,
      paths: src.paths,
      train: train.finish(),
      val: val.finish(),
      stats: { ...readStats, ...cleaner.stats, subsampled },
    });
  }

  const manifest: Manifest = {
    format: "llama-ts-shards",
    version: 1,
    created: new Date().toISOString(),
    dtype,
    document: "bos+tokens+eos",
    tokenizer: { path: tokenizerRel, vocabSize: tok.vocabSize, bosId: tok.bosId, eosId: tok.eosId },
    seed: mixture.seed,
    valFraction: mixture.valFraction,
    shardTokens,
    sources,
  };
  writeManifest(out, manifest);
  return manifest;
}

/** Copies the tokenizer into OUT as tokenizer.model (atomically) and returns that relative name. */
function copyTokenizer(from: string, out: string): string {
  const to = path.join(out, TOKENIZER_FILE);
  if (path.resolve(from) === to) return TOKENIZER_FILE;
  let bytes: Buffer;
  try {
    bytes = readFileSync(from);
  } catch (e) {
    throw new UserError(`${from}: cannot read the tokenizer (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  writeFileAtomicSync(to, bytes);
  return TOKENIZER_FILE;
}

/** The tokenizer's name inside a prepared dataset folder. */
export const TOKENIZER_FILE = "tokenizer.model";

/**
 * Removes a previous manifest (first, so a half-rebuilt folder is never taken for a dataset)
 * and the shard files of the sources about to be written. Nothing else is touched.
 */
function clearOldOutput(out: string, names: readonly string[]): void {
  try {
    unlinkSync(path.join(out, MANIFEST_FILE));
  } catch {
    // no previous manifest
  }
  for (const name of names) {
    const dir = path.join(out, name);
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      continue;
    }
    for (const e of entries) if (/^(train|val)-\d{5}\.bin(\.tmp-.*)?$/.test(e)) rmSync(path.join(dir, e), { force: true });
  }
}

export interface SourceSummary {
  name: string;
  documents: number;
  kept: number;
  dropped: number;
  duplicates: number;
  duplicateLines: number;
  malformed: number;
  trainTokens: number;
  valTokens: number;
  /** Normalised weight (share of the mixture). */
  share: number;
  /** Epochs over the source's training tokens for a run of planTokens (when given). */
  epochs: number | null;
}

/** Per-source rows for the prepare report (Table 1 style when planTokens is given). */
export function summarizeManifest(manifest: Manifest, planTokens?: number): SourceSummary[] {
  const epochs = planTokens === undefined ? null : epochReport(manifest.sources.map((s) => ({ name: s.name, weight: s.weight, tokens: s.train.tokens })), planTokens);
  return manifest.sources.map((s, i) => {
    const st = s.stats;
    return {
      name: s.name,
      documents: st.documents,
      kept: st.kept,
      dropped: st.dropped.empty + st.dropped.tooShort + st.dropped.lowAlpha + st.dropped.repeatedLines,
      duplicates: st.duplicateDocuments,
      duplicateLines: st.duplicateLines,
      malformed: st.malformed,
      trainTokens: s.train.tokens,
      valTokens: s.val.tokens,
      share: s.weight,
      epochs: epochs ? epochs[i]!.epochs : null,
    };
  });
}
