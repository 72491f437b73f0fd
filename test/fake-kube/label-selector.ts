/**
 * Label selectors as the API server parses them (k8s.io/apimachinery/pkg/labels): comma-separated
 * requirements, each `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`. A requirement
 * `k!=v` also matches objects without the label, as upstream does.
 */
export type Requirement =
  | { key: string; op: 'exists' | 'notexists' }
  | { key: string; op: 'in' | 'notin'; values: string[] };

export type Selector = Requirement[];

/** Parses a selector, or returns an error message (the fake answers 400 with it). */
export function parseSelector(text: string | null | undefined): Selector | { error: string } {
  const out: Selector = [];
  if (!text) return out;
  for (const part of splitTopLevel(text)) {
    const p = part.trim();
    if (p === '') return { error: `invalid selector: empty requirement in "${text}"` };
    let m = /^([^\s=!(),]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(p);
    if (m) {
      out.push({ key: m[1], op: m[2] as 'in' | 'notin', values: m[3].split(',').map((v) => v.trim()) });
      continue;
    }
    m = /^([^\s=!(),]+)\s*(==|=|!=)\s*([^\s=!(),]*)$/.exec(p);
    if (m) {
      out.push({ key: m[1], op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]] });
      continue;
    }
    m = /^(!?)([^\s=!(),]+)$/.exec(p);
    if (m) {
      out.push({ key: m[2], op: m[1] ? 'notexists' : 'exists' });
      continue;
    }
    return { error: `unable to parse requirement: "${p}"` };
  }
  return out;
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    else if (text[i] === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

export function matches(selector: Selector, labels: Record<string, string> | undefined | null): boolean {
  const l = labels ?? {};
  for (const r of selector) {
    const has = Object.hasOwn(l, r.key);
    switch (r.op) {
      case 'exists':
        if (!has) return false;
        break;
      case 'notexists':
        if (has) return false;
        break;
      case 'in':
        if (!has || !r.values.includes(l[r.key])) return false;
        break;
      case 'notin':
        if (has && r.values.includes(l[r.key])) return false;
        break;
    }
  }
  return true;
}
