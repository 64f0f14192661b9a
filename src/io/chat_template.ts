// Rendering a chat template as transformers renders it (Python's Jinja2 over Python strings), through
// @huggingface/jinja with what it does otherwise put right for the duration of one (synchronous)
// rendering: range() bounded, strftime_now formatted as Python does (python_strftime.ts), a
// string's strip, lstrip and rstrip taking Python's argument -- the library ignores it and strips
// whitespace, so Qwen3's `content.lstrip('\n')` had eaten an assistant turn's leading spaces, which
// transformers keeps -- and values printed as Python prints them (python_str.ts: True, None,
// ['a'], {'k': 1.5}, 1e-07), where the library printed JSON (checked against apply_chat_template on
// Qwen 2.5's, Qwen 3's and Gemma 3's own templates and against transformers' Jinja2 in
// test/io/chat_template.test.ts).
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { strftimeNow } from './python_strftime.js';
import { pythonEquals, pythonStr, type PythonPrintable } from './python_str.js';
import { GiftjsError } from '../errors.js';

/** The most values the range() of one chat-template rendering may produce, all calls together. */
const TEMPLATE_RANGE_BUDGET = 100_000;

/** Jinja's range(), bounded: a template looping a hundred million times is refused, not run. */
function boundedRange(): (...args: unknown[]) => number[] {
  let produced = 0;
  return (...args: unknown[]) => {
    const n = args.map((a) => Number((a as { value?: unknown })?.value ?? a));
    const [start, stop, step] = n.length === 1 ? [0, n[0]!, 1] : [n[0]!, n[1]!, n[2] ?? 1];
    if (!n.every(Number.isInteger) || step === 0) throw new GiftjsError(`range(${n.join(', ')}) in the chat template: the arguments must be integers and the step not 0`);
    const count = Math.max(0, Math.ceil((stop - start) / step));
    produced += count;
    if (produced > TEMPLATE_RANGE_BUDGET) throw new GiftjsError(`the chat template's range() calls ask for ${produced.toLocaleString('en-US')} values; giftjs allows ${TEMPLATE_RANGE_BUDGET.toLocaleString('en-US')} per rendering (a template that loops without end?)`);
    return Array.from({ length: count }, (_, i) => start + i * step);
  };
}

/** The characters Python's str.strip() removes by default (str.isspace(); JavaScript's trim() differs: \uFEFF, \x1c-\x1f, \x85). */
const PYTHON_WHITESPACE = new Set([0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
  0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000].map((c) => String.fromCodePoint(c)));

type Side = 'both' | 'start' | 'end';
const STRIPS: Record<string, Side> = { strip: 'both', lstrip: 'start', rstrip: 'end' };

/** Python's str.strip / lstrip / rstrip: `chars` (None: whitespace) removed from the chosen ends, by code point. */
export function pythonStrip(value: string, chars: string | null, side: Side): string {
  const drop = chars === null ? PYTHON_WHITESPACE : new Set(Array.from(chars));
  const points = Array.from(value);
  let start = 0;
  let end = points.length;
  if (side !== 'end') while (start < end && drop.has(points[start]!)) start++;
  if (side !== 'start') while (end > start && drop.has(points[end - 1]!)) end--;
  return points.slice(start, end).join('');
}

// The library's runtime values, as far as this file touches them.
interface RuntimeValue { type: string; value: unknown }
type RuntimeClass = new (value: unknown) => RuntimeValue;
interface MemberExpression { computed: boolean; property: { type: string; value: unknown }; object: unknown }
interface BinaryExpression { type: string; operator: { value: string }; left: unknown; right: unknown }
interface InterpreterMethods {
  evaluate(node: unknown, environment: unknown): RuntimeValue;
  evaluateMemberExpression(expr: MemberExpression, environment: unknown): RuntimeValue;
  evaluateBlock(statements: { type: string }[], environment: unknown): RuntimeValue;
  evaluateBinaryExpression(node: BinaryExpression, environment: unknown): RuntimeValue;
  applyFilter(operand: RuntimeValue, filter: { type: string; value?: unknown }, environment: unknown): RuntimeValue;
}

/** The nodes that print nothing of their own in Jinja2: a None one of them yields is not output, where `{{ none }}` prints None. */
const STATEMENTS = new Set(['Program', 'Set', 'If', 'For', 'Macro', 'CallStatement', 'Break', 'Continue', 'FilterStatement', 'Comment']);

/**
 * The template's source as Jinja2 reads it, where the library reads it otherwise: every line break
 * (\r\n, \r) is \n (Jinja2's newline_sequence: a chat_template.jinja saved with Windows line endings
 * had rendered them into every conversation), and transformers' {% generation %} ... {% endgeneration %}
 * (TRL's marks of the assistant's tokens) is a block that renders its body -- the library deletes the
 * two tags, so a `{%-` just inside one stripped the line break before it, which Jinja2 keeps.
 */
function jinja2Source(template: string): string {
  return template
    .replace(/\r\n?/g, '\n')
    .replace(/\{%(-?)\s*generation\s*(-?)%\}/g, '{%$1 if true $2%}')
    .replace(/\{%(-?)\s*endgeneration\s*(-?)%\}/g, '{%$1 endif $2%}');
}

/** The class of the library's runtime value for a JavaScript value (the classes are not exported). */
function valueClass(of: unknown): RuntimeClass {
  const environment = new Environment();
  environment.set('v', of);
  return (environment.lookupVariable('v') as unknown as RuntimeValue).constructor as RuntimeClass;
}
let stringValue: RuntimeClass | undefined;
let booleanClass: RuntimeClass | undefined;
function stringValueClass(): RuntimeClass {
  return (stringValue ??= valueClass(''));
}
function booleanValue(value: boolean): RuntimeValue {
  return new (booleanClass ??= valueClass(true))(value);
}

/** A syntax node standing for a value already evaluated (so an object is not evaluated twice). */
const EVALUATED = 'GiftjsEvaluated';

/**
 * Renders `template` with `context` as transformers does (see the file's comment). The library
 * declares its globals itself and refuses to redeclare one, so its Environment.set substitutes
 * giftjs's while the rendering runs; a string's strip methods are substituted where its members
 * are looked up.
 */
export function renderChatTemplate(template: string, context: Record<string, unknown>): string {
  const parsed = new Template(jinja2Source(template));
  const makeString = stringValueClass();
  const originalSet = Environment.prototype.set;
  const own: Record<string, unknown> = { range: boundedRange(), strftime_now: strftimeNow };
  Environment.prototype.set = function (this: Environment, name: string, value: unknown) {
    return originalSet.call(this, name, Object.hasOwn(own, name) ? own[name] : value);
  };
  const interpreter = Interpreter.prototype as unknown as InterpreterMethods;
  const original: InterpreterMethods = {
    evaluate: interpreter.evaluate,
    evaluateMemberExpression: interpreter.evaluateMemberExpression,
    evaluateBlock: interpreter.evaluateBlock,
    evaluateBinaryExpression: interpreter.evaluateBinaryExpression,
    applyFilter: interpreter.applyFilter,
  };
  // Output, `~` and the string filter print values as Python's str() does.
  interpreter.evaluateBlock = function (this: InterpreterMethods, statements, environment) {
    let out = '';
    for (const statement of statements) {
      const value = this.evaluate(statement, environment);
      if (value.type === 'UndefinedValue' || (value.type === 'NullValue' && STATEMENTS.has(statement.type))) continue;
      out += pythonStr(value as PythonPrintable);
    }
    return new makeString(out);
  };
  // `~` prints as Python; ==, !=, in and not in compare as Python (the library compared lists and
  // dicts by identity and the rest with JavaScript's loose ==: [1] == [1] was false, '1' == 1 true);
  // % takes the divisor's sign.
  interpreter.evaluateBinaryExpression = function (this: InterpreterMethods, node, environment) {
    const op = node.operator.value;
    if (op === '~') {
      const printed = (side: unknown) => {
        const value = this.evaluate(side, environment);
        return value.type === 'UndefinedValue' ? '' : pythonStr(value as PythonPrintable);
      };
      return new makeString(printed(node.left) + printed(node.right));
    }
    if (op !== '==' && op !== '!=' && op !== 'in' && op !== 'not in' && op !== '%') return original.evaluateBinaryExpression.call(this, node, environment);
    const left = this.evaluate(node.left, environment);
    const right = this.evaluate(node.right, environment);
    const again = () => original.evaluateBinaryExpression.call(this, { ...node, left: { type: EVALUATED, value: left }, right: { type: EVALUATED, value: right } }, environment);
    if (op === '==' || op === '!=') return booleanValue((op === '==') === pythonEquals(left as PythonPrintable, right as PythonPrintable));
    if (op === '%') {
      const result = again();
      const divisor = right.value as number;
      if ((left.type === 'IntegerValue' || left.type === 'FloatValue') && (right.type === 'IntegerValue' || right.type === 'FloatValue')
        && (result.value as number) !== 0 && ((result.value as number) < 0) !== (divisor < 0)) {
        return new (result.constructor as RuntimeClass)((result.value as number) + divisor);
      }
      return result;
    }
    if (right.type === 'ArrayValue' || right.type === 'TupleValue') {
      const member = (right.value as PythonPrintable[]).some((x) => pythonEquals(left as PythonPrintable, x));
      return booleanValue((op === 'in') === member);
    }
    return again();
  };
  interpreter.applyFilter = function (this: InterpreterMethods, operand, filter, environment) {
    if (filter.type === 'Identifier' && filter.value === 'string') return new makeString(operand.type === 'UndefinedValue' ? '' : pythonStr(operand as PythonPrintable));
    return original.applyFilter.call(this, operand, filter, environment);
  };
  interpreter.evaluate = function (this: InterpreterMethods, node, environment) {
    return (node as { type?: string } | null)?.type === EVALUATED ? (node as { value: RuntimeValue }).value : original.evaluate.call(this, node, environment);
  };
  interpreter.evaluateMemberExpression = function (this: InterpreterMethods, expr, environment) {
    const name = expr.property.value;
    if (expr.computed || typeof name !== 'string' || !Object.hasOwn(STRIPS, name)) return original.evaluateMemberExpression.call(this, expr, environment);
    const object = this.evaluate(expr.object, environment);
    const builtin = original.evaluateMemberExpression.call(this, { ...expr, object: { type: EVALUATED, value: object } }, environment);
    if (object.type !== 'StringValue' || builtin.type !== 'FunctionValue') return builtin;
    const makeFunction = builtin.constructor as RuntimeClass;
    return new makeFunction((args: RuntimeValue[]) => {
      const chars = args[0];
      if (chars !== undefined && chars.type !== 'NullValue' && chars.type !== 'StringValue') {
        throw new GiftjsError(`the chat template calls ${name}() with a value of type ${chars.type}; Python's takes a string or None`);
      }
      return new makeString(pythonStrip(object.value as string, chars?.type === 'StringValue' ? (chars.value as string) : null, STRIPS[name]!));
    });
  };
  try {
    return parsed.render(context);
  } finally {
    Environment.prototype.set = originalSet;
    Object.assign(interpreter, original);
  }
}
