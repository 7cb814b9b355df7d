/**
 * Server counters and their Prometheus text exposition (format 0.0.4): requests by endpoint
 * and status, prompt and generated tokens, generated tokens per second over the last
 * `windowMs` (tokens counted in the window / window length, or since start when younger),
 * and the session's queue length and in-flight sequences at scrape time.
 */
import type { SessionStats } from "../generate/types.js";

export class ServerMetrics {
  private readonly requests = new Map<string, number>();
  promptTokens = 0;
  generatedTokens = 0;
  /** HTTP requests being handled now. */
  inFlightRequests = 0;
  /** (time ms, tokens) of recent generation steps, oldest first. */
  private readonly recent: Array<[number, number]> = [];
  private readonly started = Date.now();

  constructor(private readonly windowMs = 10_000) {}

  countRequest(endpoint: string, status: number): void {
    const key = `endpoint="${endpoint}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  countGenerated(tokens: number, now = Date.now()): void {
    if (tokens <= 0) return;
    this.generatedTokens += tokens;
    this.recent.push([now, tokens]);
    this.prune(now);
  }

  /** Generated tokens per second over the last window. */
  tokensPerSecond(now = Date.now()): number {
    this.prune(now);
    let n = 0;
    for (const [, t] of this.recent) n += t;
    const span = Math.min(this.windowMs, Math.max(1, now - this.started));
    return (n * 1000) / span;
  }

  private prune(now: number): void {
    while (this.recent.length > 0 && this.recent[0]![0] < now - this.windowMs) this.recent.shift();
  }

  /** Prometheus text format. */
  render(stats: SessionStats, now = Date.now()): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: Array<[string, number]>): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of samples) lines.push(`${name}${labels ? `{${labels}}` : ""} ${formatValue(v)}`);
    };
    const reqs: Array<[string, number]> = [...this.requests.entries()].sort(([a], [b]) => a.localeCompare(b));
    metric("llamats_requests_total", "counter", "HTTP requests handled, by endpoint and status code.", reqs.length > 0 ? reqs : [["", 0]]);
    metric("llamats_prompt_tokens_total", "counter", "Prompt tokens of generation requests.", [["", this.promptTokens]]);
    metric("llamats_generated_tokens_total", "counter", "Tokens generated.", [["", this.generatedTokens]]);
    metric("llamats_tokens_per_second", "gauge", `Generated tokens per second over the last ${this.windowMs / 1000} s.`, [["", this.tokensPerSecond(now)]]);
    metric("llamats_queue_length", "gauge", "Requests waiting for a decoding slot.", [["", stats.queued]]);
    metric("llamats_sequences_in_flight", "gauge", "Sequences being decoded (the current batch).", [["", stats.active]]);
    metric("llamats_http_requests_in_flight", "gauge", "HTTP requests being handled.", [["", this.inFlightRequests]]);
    return lines.join("\n") + "\n";
  }
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  return Number.isInteger(v) ? String(v) : v.toFixed(3);
}
