/**
 * A request header named in config (matchers, hash policies, cluster_header, %REQ(…)%), resolved once to
 * where its value lives in a RequestHead. Envoy keeps pseudo-headers in the header map, so configs name
 * `:authority`, `:path`, `:method`, `:scheme`; RequestHead keeps them as fields. `host` is not an alias of
 * `:authority` (as in Envoy, whose HTTP/1 codec turns Host into :authority): match on `:authority`.
 */
import type { RequestHead } from '../request-head.ts';

const HEADER = 0;
const AUTHORITY = 1;
const PATH = 2;
const METHOD = 3;
const SCHEME = 4;
const ABSENT = 5;

/** A request header reference, resolved at config time. */
export class RequestHeaderRef {
  /** The lower-case header name. */
  readonly name: string;
  private readonly kind: number;

  constructor(name: string) {
    this.name = name.toLowerCase();
    switch (this.name) {
      case ':authority': this.kind = AUTHORITY; break;
      case ':path': this.kind = PATH; break;
      case ':method': this.kind = METHOD; break;
      case ':scheme': this.kind = SCHEME; break;
      default: this.kind = this.name.startsWith(':') ? ABSENT : HEADER;
    }
  }

  /** The first value, or undefined when absent. */
  first(head: RequestHead): string | undefined {
    switch (this.kind) {
      case HEADER: {
        const h = head.headers;
        const name = this.name;
        for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
        return undefined;
      }
      case AUTHORITY: return head.authority;
      case PATH: return head.path;
      case METHOD: return head.method;
      case SCHEME: return head.scheme;
      default: return undefined;
    }
  }

  /**
   * Every value joined with ',' (Envoy's getAllOfHeaderAsString, used by header matchers), or undefined when
   * absent. Allocates only when the header is repeated.
   */
  joined(head: RequestHead): string | undefined {
    if (this.kind !== HEADER) return this.first(head);
    const h = head.headers;
    const name = this.name;
    let out: string | undefined;
    for (let i = 0; i < h.length; i += 2) {
      if (h[i] === name) out = out === undefined ? h[i + 1] : `${out},${h[i + 1]}`;
    }
    return out;
  }

  /** Every value, in order (allocates; for hashing). */
  all(head: RequestHead): string[] {
    if (this.kind !== HEADER) {
      const v = this.first(head);
      return v === undefined ? [] : [v];
    }
    const out: string[] = [];
    const h = head.headers;
    for (let i = 0; i < h.length; i += 2) if (h[i] === this.name) out.push(h[i + 1]);
    return out;
  }

  /** The number of values (0 when absent). */
  count(head: RequestHead): number {
    if (this.kind !== HEADER) return this.first(head) === undefined ? 0 : 1;
    let n = 0;
    const h = head.headers;
    for (let i = 0; i < h.length; i += 2) if (h[i] === this.name) n++;
    return n;
  }
}
