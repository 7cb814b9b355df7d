/**
 * Paths stored inside our files (a dataset manifest's shards and tokenizer, a run's data
 * folder) are written relative to the folder of the file that holds them and resolved
 * against it on read, so a dataset or run can be moved or used from any working directory.
 * A stored path that leaves its folder (`../x`, `/etc/passwd`, or a symlink pointing out)
 * is refused: reading it would let a crafted file read or copy anything on the machine.
 */
import fs from "node:fs";
import path from "node:path";

/** True when `p` (absolute) lies strictly inside `root` (absolute), lexically. */
function lexicallyInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
}

/**
 * Resolves `stored` (relative to `root`) and returns the absolute path when it stays inside
 * `root`, following symlinks of the parts that exist; undefined when it leaves the folder.
 */
export function resolveInside(root: string, stored: string): string | undefined {
  if (stored.length === 0 || stored.includes("\0") || path.isAbsolute(stored)) return undefined;
  const base = path.resolve(root);
  const full = path.resolve(base, stored);
  if (!lexicallyInside(base, full)) return undefined;
  try {
    const real = fs.realpathSync(full);
    if (!lexicallyInside(fs.realpathSync(base), real)) return undefined;
  } catch {
    // does not exist (yet): the lexical check stands; the caller reports a missing file
  }
  return full;
}

/** `file` relative to `dir` in POSIX form (what we store in JSON files). */
export function storedRelative(dir: string, file: string): string {
  return path.relative(path.resolve(dir), path.resolve(file)).split(path.sep).join("/");
}

/** A value from a file, quoted for a one-line message (newlines and escape sequences escaped). */
export function quoteValue(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 120 ? s.slice(0, 117) + "..." : s;
}
