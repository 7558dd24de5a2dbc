/**
 * Plain-text table rendering for benchmark reports: a Markdown pipe table with padded columns, so the
 * same text reads well in a terminal and pastes into docs/benchmarks.md.
 */

/** Renders `rows` under `headers`; numeric-looking cells are right-aligned. */
export function markdownTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => /^[-+~!]?[\d.]|^(—|n\/a|)$/.test(r[i] ?? '')));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(headers), rule, ...rows.map((r) => line(headers.map((_, i) => r[i] ?? '')))].join('\n');
}

/** Formats a number with `digits` decimals, or an em dash when absent. */
export function fmt(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(digits);
}

/** Formats a signed difference (`+0.3`, `-0.1`), or an em dash when absent. */
export function fmtSigned(value: number | undefined, digits: number): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  const s = value.toFixed(digits);
  return value >= 0 && !s.startsWith('-') ? `+${s}` : s;
}
