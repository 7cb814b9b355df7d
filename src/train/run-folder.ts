/**
 * Claiming a run folder before training writes into it, so that a run is never lost:
 *
 * - a new run (`train --out DIR` without `--resume`) needs DIR to be missing or empty; a
 *   folder that holds a run, or anything else, is refused unless `--overwrite` is given, and
 *   then only the files a run consists of (RUN_FILES, by exact name) are replaced (removed
 *   first when DIR held a previous run, which wrote them): nothing else in DIR is deleted;
 * - `--resume` needs DIR to hold a run (checked when its state is read);
 * - one training per folder: DIR/.llama-ts-train.lock is created with O_EXCL and holds the
 *   owner's pid; a second training refuses with one line naming that pid. A lock whose pid
 *   no longer runs (a killed training) is stale and taken over, with a note.
 */
import fs from "node:fs";
import path from "node:path";
import { UserError } from "../util/errors.js";
import { RUN_FILES, STATE_FILE, isCheckpointLeftover } from "./trainer.js";

export const LOCK_FILE = ".llama-ts-train.lock";

export interface RunFolderClaim {
  dir: string;
  /** Removes the lock (idempotent). */
  release(): void;
}

/** Whether process `pid` exists (signal 0 checks without sending anything). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pid in a lock file; undefined while the owner has created it but not yet written it. */
function lockOwner(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function lockAgeMs(file: string): number {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return Infinity;
  }
}

/** Refuses when a live training holds DIR's lock. */
function checkNotLocked(dir: string): void {
  const file = path.join(dir, LOCK_FILE);
  if (!fs.existsSync(file)) return;
  const pid = lockOwner(file);
  if (pid !== undefined && pid !== process.pid && processAlive(pid)) {
    throw new UserError(`${dir} is being trained by process ${pid} (lock file ${file}); wait for it to finish or stop it, or choose another --out (if no training runs there, delete the lock file)`);
  }
  if (pid === undefined && lockAgeMs(file) < 10_000) {
    throw new UserError(`${dir} is being claimed by another training (lock file ${file}); choose another --out`);
  }
}

/** Creates DIR's lock (O_EXCL), taking over a stale one; `note` receives the takeover message. */
function takeLock(dir: string, note: (line: string) => void): string {
  const file = path.join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, "wx");
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      return file;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "EEXIST") throw new UserError(`${file}: cannot create the run's lock file (${code ?? (e as Error).message})`);
      checkNotLocked(dir);
      const pid = lockOwner(file);
      note(`note: taking over the stale lock ${file}${pid !== undefined ? ` of process ${pid}, which is no longer running` : ""}`);
      fs.rmSync(file, { force: true });
    }
  }
  throw new UserError(`${dir}: another training claimed this folder at the same moment; choose another --out`);
}

/**
 * Checks that DIR may be written (see the module comment), creates it, and takes its lock.
 * With `overwrite`, a previous run's own files are removed (by exact name) so that the new
 * run's folder holds nothing stale from it.
 */
export function claimRunFolder(dir: string, opts: { resume: boolean; overwrite: boolean; note: (line: string) => void }): RunFolderClaim {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new UserError(`--out ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (st && !st.isDirectory()) throw new UserError(`--out ${dir} is a file, not a folder; choose a folder for the run`);
  if (st) checkNotLocked(dir);
  const wasRun = st !== undefined && fs.existsSync(path.join(dir, STATE_FILE));
  if (opts.resume) {
    if (!st || !fs.existsSync(path.join(dir, STATE_FILE))) throw new UserError(`--resume: ${dir} holds no run (no ${STATE_FILE}); drop --resume to start one there`);
  } else if (st) {
    const entries = fs.readdirSync(dir).filter((f) => f !== LOCK_FILE && !isCheckpointLeftover(dir, f));
    if (entries.length > 0 && !opts.overwrite) {
      throw new UserError(wasRun
        ? `--out ${dir} already holds a training run; add --resume to continue it, or --overwrite to start a new run there`
        : `--out ${dir} is not empty (${entries.length} entries, e.g. ${JSON.stringify(entries[0])}); choose a new or empty folder, or add --overwrite to write the run into it (nothing else is deleted)`);
    }
  }
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UserError(`--out ${dir}: cannot create the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const file = takeLock(dir, opts.note);
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.off("exit", release);
    if (lockOwner(file) === process.pid) fs.rmSync(file, { force: true });
    // A folder this claim created and nothing was written into (a refused run) goes again.
    if (!st) {
      try {
        fs.rmdirSync(dir);
      } catch {
        // not empty: the run's files
      }
    }
  };
  process.on("exit", release);
  if (!opts.resume && opts.overwrite && wasRun) {
    // The previous run's own files (it wrote them); a folder that was not a run keeps everything.
    for (const f of RUN_FILES) for (const name of [f, `${f}.next`]) fs.rmSync(path.join(dir, name), { force: true });
  }
  return { dir, release };
}
