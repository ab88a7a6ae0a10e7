/**
 * Label and field selectors as the API server parses them (apimachinery `labels.Parse` and
 * `fields.ParseSelector`): the requirements, their matching, and the syntax error that becomes a
 * 400 BadRequest.
 */


/** One requirement of a label selector. */
export interface LabelRequirement {
  readonly key: string;
  readonly op: 'exists' | '!exists' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';
  readonly values: readonly string[];
}

/** A selector syntax error; the message becomes a 400 BadRequest. */
export class SelectorError extends Error {
  override readonly name = 'SelectorError';
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * Parses a label selector as apimachinery's `labels.Parse` does: comma-separated requirements
 * `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k>n`, `k<n`.
 */
export function parseLabelSelector(text: string): LabelRequirement[] {
  const requirements: LabelRequirement[] = [];
  // Split on commas outside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (depth < 0) throw new SelectorError(`unable to parse requirement: unexpected ")" in ${JSON.stringify(text)}`);
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (depth !== 0) throw new SelectorError(`unable to parse requirement: unclosed "(" in ${JSON.stringify(text)}`);
  parts.push(current);
  if (parts.length === 1 && parts[0]!.trim() === '') return [];
  for (const raw of parts) {
    const part = raw.trim();
    const checkKey = (key: string): string => {
      if (!LABEL_KEY.test(key)) throw new SelectorError(`unable to parse requirement: invalid label key ${JSON.stringify(key)}`);
      return key;
    };
    const checkValue = (value: string): string => {
      if (value.length > 63 || !LABEL_VALUE.test(value)) throw new SelectorError(`unable to parse requirement: invalid label value ${JSON.stringify(value)}`);
      return value;
    };
    let match: RegExpExecArray | null;
    if ((match = /^!\s*(\S+)$/.exec(part)) !== null) {
      requirements.push({ key: checkKey(match[1]!), op: '!exists', values: [] });
    } else if ((match = /^(\S+?)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part)) !== null) {
      const values = match[3]!.split(',').map((v) => checkValue(v.trim()));
      requirements.push({ key: checkKey(match[1]!), op: match[2] as 'in' | 'notin', values });
    } else if ((match = /^([^=!<>\s]+)\s*(==|=|!=|<|>)\s*(\S*)$/.exec(part)) !== null) {
      const op = match[2] === '!=' ? '!=' : match[2] === '<' ? 'lt' : match[2] === '>' ? 'gt' : '=';
      const value = match[3]!;
      if ((op === 'lt' || op === 'gt') && !/^-?\d+$/.test(value)) throw new SelectorError(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer`);
      requirements.push({ key: checkKey(match[1]!), op, values: [op === 'lt' || op === 'gt' ? value : checkValue(value)] });
    } else if (/^\S+$/.test(part)) {
      requirements.push({ key: checkKey(part), op: 'exists', values: [] });
    } else {
      throw new SelectorError(`unable to parse requirement: ${JSON.stringify(part)} is not a valid requirement`);
    }
  }
  return requirements;
}

/** Whether `labels` satisfy every requirement. */
export function matchesLabelSelector(requirements: readonly LabelRequirement[], labels: Readonly<Record<string, string>>): boolean {
  return requirements.every(({ key, op, values }) => {
    const has = Object.hasOwn(labels, key);
    const value = labels[key];
    switch (op) {
      case 'exists':
        return has;
      case '!exists':
        return !has;
      case '=':
      case 'in':
        return has && values.includes(value!);
      case '!=':
      case 'notin':
        return !has || !values.includes(value!);
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(value!)) return false;
        return op === 'gt' ? Number(value) > Number(values[0]) : Number(value) < Number(values[0]);
      }
    }
  });
}

/** One requirement of a field selector. */
export interface FieldRequirement {
  readonly field: string;
  readonly op: '=' | '!=';
  readonly value: string;
}

/** Parses a field selector (`a=b,c!=d`, `==` allowed, `\,` `\=` `\\` escapes) as `fields.ParseSelector` does. */
export function parseFieldSelector(text: string): FieldRequirement[] {
  if (text.trim() === '') return [];
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length) {
      current += ch + text[++i]!;
    } else if (ch === ',') {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  const unescape = (s: string): string => s.replace(/\\(.)/g, '$1');
  return parts.map((part) => {
    const match = /^((?:[^=!\\]|\\.)+?)\s*(!=|==|=)(.*)$/.exec(part.trim());
    if (match === null) throw new SelectorError(`invalid selector: '${part}'; can't understand '${part}'`);
    return { field: match[1]!.trim(), op: match[2] === '!=' ? '!=' : '=', value: unescape(match[3]!.trim()) };
  });
}
