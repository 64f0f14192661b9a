// Packages giftjs uses for one feature each (image decoding, the demo corpora, the embedded encoder)
// are optional peer dependencies: `npm install giftjs` does not fetch them. Loading one that is
// missing says which feature needs it and the command that installs it.
import { createRequire } from 'node:module';
import { GiftjsError } from '../errors.js';

/** Node's require for this module, made when first needed (a browser bundle imports this file but never calls it). */
let nodeRequire: NodeJS.Require | null = null;
const require = (): NodeJS.Require => (nodeRequire ??= createRequire(import.meta.url));

function missing(name: string, purpose: string, err: unknown): GiftjsError | unknown {
  const code = (err as { code?: string }).code;
  if (code !== 'MODULE_NOT_FOUND' && code !== 'ERR_MODULE_NOT_FOUND') return err;
  return new GiftjsError(`${purpose} needs the npm package ${name}, which is not installed (giftjs leaves it optional): npm install ${name}`);
}

/** require(specifier) of an optional package (specifier may be a file inside it). */
export function requireOptional<T>(name: string, purpose: string, specifier = name): T {
  try {
    return require()(specifier) as T;
  } catch (err) {
    throw missing(name, purpose, err);
  }
}

/** Where an optional package's file is (require.resolve), or the same error as requireOptional. */
export function resolveOptional(name: string, purpose: string, specifier: string): string {
  try {
    return require().resolve(specifier);
  } catch (err) {
    throw missing(name, purpose, err);
  }
}

/** An optional ES module (import()), or the same error as requireOptional. */
export async function importOptional<T>(name: string, purpose: string): Promise<T> {
  const specifier = name; // a variable: TypeScript does not look for the package's types
  try {
    return (await import(specifier)) as T;
  } catch (err) {
    throw missing(name, purpose, err);
  }
}

/** The sharp image library (decoding and resizing images), loaded on first use. */
export async function loadSharp(purpose: string): Promise<typeof import('sharp')> {
  try {
    return (await import('sharp')).default;
  } catch (err) {
    throw missing('sharp', purpose, err);
  }
}
