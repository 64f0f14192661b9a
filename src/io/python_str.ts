// Python's str() and repr() of the values a chat template handles (the runtime values of
// @huggingface/jinja), so that a template prints True, None, ['a', 1], {'k': 2.5} and 1e-07 where
// Jinja2 over Python values does -- the library prints JSON (true, null, ["a", 1]) and JavaScript's
// numbers (1e-7). Checked against transformers' Jinja2 in test/io/chat_template.test.ts.

/** A runtime value as far as printing needs: its type name and its JavaScript value. */
export interface PythonPrintable { type: string; value: unknown; toString(): string }

/**
 * Python's == between two values: numbers (and booleans, which are numbers there) by value, strings
 * by their text, lists and tuples item by item (a list never equals a tuple), dicts key by key; None
 * equals None and Jinja2's undefined equals undefined, and neither equals anything else.
 */
export function pythonEquals(a: PythonPrintable, b: PythonPrintable): boolean {
  const numeric = (v: PythonPrintable) => v.type === 'IntegerValue' || v.type === 'FloatValue' || v.type === 'BooleanValue';
  if (numeric(a) && numeric(b)) return Number(a.value) === Number(b.value);
  if (a.type === 'StringValue' || b.type === 'StringValue') return a.type === b.type && a.value === b.value;
  if (a.type === 'NullValue' || b.type === 'NullValue' || a.type === 'UndefinedValue' || b.type === 'UndefinedValue') return a.type === b.type;
  const list = (v: PythonPrintable) => v.type === 'ArrayValue' || v.type === 'TupleValue';
  if (list(a) && list(b)) {
    const x = a.value as PythonPrintable[];
    const y = b.value as PythonPrintable[];
    return a.type === b.type && x.length === y.length && x.every((item, i) => pythonEquals(item, y[i]!));
  }
  const dict = (v: PythonPrintable) => v.type === 'ObjectValue' || v.type === 'KeywordArgumentsValue';
  if (dict(a) && dict(b)) {
    const x = a.value as Map<string, PythonPrintable>;
    const y = b.value as Map<string, PythonPrintable>;
    return x.size === y.size && [...x].every(([k, v]) => y.has(k) && pythonEquals(v, y.get(k)!));
  }
  return a === b || (a.type === b.type && a.value === b.value);
}

/** Python's str(value). */
export function pythonStr(v: PythonPrintable): string {
  return v.type === 'StringValue' ? (v.value as string) : pythonRepr(v);
}

/** Python's repr(value): strings quoted, containers with their items' repr. */
export function pythonRepr(v: PythonPrintable): string {
  switch (v.type) {
    case 'StringValue': return stringRepr(v.value as string);
    case 'IntegerValue': return String(v.value);
    case 'FloatValue': return floatRepr(v.value as number);
    case 'BooleanValue': return v.value ? 'True' : 'False';
    case 'NullValue': return 'None';
    case 'UndefinedValue': return '';
    case 'ArrayValue': return `[${(v.value as PythonPrintable[]).map(pythonRepr).join(', ')}]`;
    case 'TupleValue': {
      const items = (v.value as PythonPrintable[]).map(pythonRepr);
      return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
    }
    case 'ObjectValue':
    case 'KeywordArgumentsValue':
      return `{${[...(v.value as Map<string, PythonPrintable>)].map(([k, x]) => `${stringRepr(k)}: ${pythonRepr(x)}`).join(', ')}}`;
    default: return v.toString(); // functions, namespaces: no template prints them
  }
}

/**
 * repr(float): the shortest digits that read back to the same double (JavaScript finds the same
 * ones), positional for exponents -4 to 15 and otherwise d.ddde+XX, with at least one decimal.
 */
export function floatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, exp] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mantissa.replace('.', '');
  const e = Number(exp);
  const sign = x < 0 ? '-' : '';
  if (e < -4 || e >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  if (e < 0) return `${sign}0.${'0'.repeat(-e - 1)}${digits}`;
  const whole = digits.slice(0, e + 1).padEnd(e + 1, '0');
  const fraction = digits.slice(e + 1);
  return `${sign}${whole}.${fraction || '0'}`;
}

/** Characters repr() escapes beyond ASCII: those Python's str.isprintable() rejects (the space is printable). */
const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/** repr(str): single quotes unless the text has one and no double quote; backslash escapes as Python writes them. */
export function stringRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c < 0x7f || ch === ' ' || !NOT_PRINTABLE.test(ch)) out += ch;
    else if (c <= 0xff) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c <= 0xffff) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += `\\U${c.toString(16).padStart(8, '0')}`;
  }
  return out + quote;
}
