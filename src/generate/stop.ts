/**
 * Stop strings over streamed text. Text is pushed as it is decoded; `push` returns what may be
 * shown now: everything except a tail that could still grow into a stop string. When a stop
 * string appears (possibly spread over several pushes), the text before it is returned, the
 * stop string and everything after it are dropped, and `stopped` becomes true.
 */
export class StopMatcher {
  private pending = "";
  stopped = false;
  private readonly stops: readonly string[];

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  push(text: string): string {
    if (this.stopped) return "";
    if (this.stops.length === 0) return text;
    this.pending += text;
    // The earliest complete stop string ends the text.
    let first = -1;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (first < 0 || i < first)) first = i;
    }
    if (first >= 0) {
      this.stopped = true;
      const out = this.pending.slice(0, first);
      this.pending = "";
      return out;
    }
    // Hold back the longest tail that is a proper prefix of some stop string.
    let hold = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, this.pending.length); n > hold; n--) {
        if (this.pending.endsWith(s.slice(0, n))) {
          hold = n;
          break;
        }
      }
    }
    const out = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return out;
  }

  /** The end of the stream: held-back text was no stop string after all. */
  flush(): string {
    const out = this.stopped ? "" : this.pending;
    this.pending = "";
    return out;
  }
}
