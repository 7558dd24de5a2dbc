/**
 * Earliest-deadline-first scheduling of weighted entries, as Envoy's EdfScheduler: each entry is due again
 * `1 / weight` after it was last served, and the entry with the earliest deadline is served next. Over any
 * window, entry i is picked in proportion to its weight, interleaved smoothly (not in bursts), in O(log n)
 * per pick with no allocation: the heap and deadlines live in typed arrays sized once.
 *
 * Used for weighted round robin, weighted least request (weights recomputed when an entry is re-queued) and
 * for choosing a locality by weight.
 */
export class EdfScheduler {
  /** Number of entries. */
  readonly size: number;
  /** Static weights by entry (`next()` re-queues with these). */
  private readonly weights: Float64Array;
  /** Binary min-heap of entry indices ordered by (deadline, seq). */
  private readonly heap: Int32Array;
  private readonly deadline: Float64Array;
  /** Queue order: breaks deadline ties first-in first-out, so equal weights rotate deterministically. */
  private readonly seq: Float64Array;
  private nextSeq = 0;

  /** `weights` must all be > 0. */
  constructor(weights: ArrayLike<number>) {
    const n = weights.length;
    this.size = n;
    this.weights = Float64Array.from(weights);
    this.heap = new Int32Array(n);
    this.deadline = new Float64Array(n);
    this.seq = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      this.deadline[i] = 1 / this.weights[i];
      this.seq[i] = this.nextSeq++;
      this.heap[i] = i;
    }
    for (let i = (n >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /** The entry due next (without serving it). */
  peek(): number {
    return this.heap[0];
  }

  /** Serves the entry due next and re-queues it with its static weight; returns its index. */
  next(): number {
    const i = this.heap[0];
    this.advance(this.weights[i]);
    return i;
  }

  /** Re-queues the entry at the top of the heap with `weight` (> 0) after it has been served. */
  advance(weight: number): void {
    const i = this.heap[0];
    // The scheduler's clock is the deadline just served: the entry is due again 1/weight later.
    this.deadline[i] += 1 / weight;
    this.seq[i] = this.nextSeq++;
    this.siftDown(0);
  }

  private less(a: number, b: number): boolean {
    const da = this.deadline[a];
    const db = this.deadline[b];
    return da < db || (da === db && this.seq[a] < this.seq[b]);
  }

  private siftDown(pos: number): void {
    const heap = this.heap;
    const n = this.size;
    const item = heap[pos];
    for (;;) {
      let child = 2 * pos + 1;
      if (child >= n) break;
      if (child + 1 < n && this.less(heap[child + 1], heap[child])) child++;
      if (!this.less(heap[child], item)) break;
      heap[pos] = heap[child];
      pos = child;
    }
    heap[pos] = item;
  }
}
