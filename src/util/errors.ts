/**
 * A mistake the user can fix (bad flag, missing file, malformed model). The CLI prints its
 * message as one line and exits with code 2; anything else is an internal error and shows
 * its stack.
 */
export class UserError extends Error {
  override readonly name = "UserError";
}

/** Parses a comma-separated list of integers ("1,2,3"), naming the flag on error. */
export function parseIntList(text: string, flag: string): number[] {
  const parts = text.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (parts.length === 0) throw new UserError(`${flag} needs at least one integer, e.g. ${flag} 1,2,3`);
  return parts.map((p) => {
    if (!/^-?\d+$/.test(p)) throw new UserError(`${flag}: "${p}" is not an integer (expected e.g. ${flag} 1,2,3)`);
    return Number(p);
  });
}

export function parseNumberOption(text: string, flag: string, opts: { min?: number; max?: number; integer?: boolean } = {}): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v)) throw new UserError(`${flag}: "${text}" is not a number`);
  if (opts.integer && !Number.isInteger(v)) throw new UserError(`${flag}: "${text}" must be an integer`);
  if (opts.min !== undefined && v < opts.min) throw new UserError(`${flag}: ${v} is below the minimum ${opts.min}`);
  if (opts.max !== undefined && v > opts.max) throw new UserError(`${flag}: ${v} is above the maximum ${opts.max}`);
  return v;
}
