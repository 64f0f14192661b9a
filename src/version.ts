// The package version, written here and in package.json (a test holds them equal): a constant, so
// that the library also loads where there is no package.json to read (a browser bundle).
export const GIFTJS_VERSION = '0.1.0';
