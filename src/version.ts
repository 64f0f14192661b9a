// The package version, read once from package.json (the single place it is written).
import { readFileSync } from 'node:fs';

export const GIFTJS_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
