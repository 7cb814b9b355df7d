/**
 * Progress for long work: a bar (cli-progress) when stderr is a terminal, plain log lines
 * otherwise, nothing when silenced (e.g. under --json, where stdout must stay machine-readable).
 */
import cliProgress from "cli-progress";

export interface Progress {
  update(done: number, info?: Record<string, string | number>): void;
  stop(): void;
}

export function createProgress(label: string, total: number, opts: { silent?: boolean; unit?: string } = {}): Progress {
  if (opts.silent) return { update() {}, stop() {} };
  const unit = opts.unit ?? "";
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `${label} [{bar}] {percentage}% | {value}/{total}${unit ? " " + unit : ""} | {info} | ETA {eta_formatted}`,
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { info: "" });
    return {
      update(done, info) {
        bar.update(done, { info: formatInfo(info) });
      },
      stop() {
        bar.stop();
      },
    };
  }
  const start = Date.now();
  let lastLog = 0;
  let finished = false;
  return {
    update(done, info) {
      const now = Date.now();
      if (finished || (now - lastLog < 2000 && done < total)) return;
      if (done >= total) finished = true; // log completion once
      lastLog = now;
      const elapsed = (now - start) / 1000;
      const eta = done > 0 ? (elapsed * (total - done)) / done : NaN;
      process.stderr.write(`${label}: ${done}/${total}${unit ? " " + unit : ""} ${formatInfo(info)} elapsed ${elapsed.toFixed(0)}s eta ${Number.isFinite(eta) ? eta.toFixed(0) + "s" : "?"}\n`);
    },
    stop() {},
  };
}

function formatInfo(info?: Record<string, string | number>): string {
  if (!info) return "";
  return Object.entries(info).map(([k, v]) => `${k} ${typeof v === "number" ? fmt(v) : v}`).join(" | ");
}

function fmt(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(4);
}
