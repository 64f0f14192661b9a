// Every request giftjs makes to a hub goes through here, bounded, because a hub (or whatever
// answers at HF_ENDPOINT) can be slow, stalled or hostile:
// - an answer must start within the timeout (HF_HUB_DOWNLOAD_TIMEOUT seconds, as huggingface_hub
//   reads it; default 10);
// - while giftjs waits for a body, each timeout-long window must bring at least 1 KiB: a stalled
//   connection or a drip of a byte a second ends with a message instead of never;
// - an API answer (a listing, a revision's info) may be at most 64 MiB;
// - redirects are followed at most 20 times (fetch's own limit).
// File bodies are bounded by the caller, which knows the size the listing declared.
import { GiftjsError } from '../errors.js';

/** A request ended by one of the bounds above (a network condition: a cached copy may stand in). */
export class HubLimitError extends GiftjsError {}

const MIN_BYTES_PER_WINDOW = 1024;
const MAX_API_BYTES = 64 << 20;

/** HF_HUB_DOWNLOAD_TIMEOUT in seconds (default 10). */
export function hubTimeoutSeconds(): number {
  const raw = process.env.HF_HUB_DOWNLOAD_TIMEOUT;
  if (raw === undefined || raw === '') return 10;
  const s = Number(raw);
  if (!Number.isFinite(s) || s <= 0) throw new GiftjsError(`HF_HUB_DOWNLOAD_TIMEOUT is '${raw}'; it must be a number of seconds > 0`);
  return s;
}

/** fetch with the bounds above. */
export function boundedFetch(): typeof fetch {
  const seconds = hubTimeoutSeconds();
  const ms = seconds * 1000;
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const where = `${url.origin}${url.pathname}`;
    const controller = new AbortController();
    let why: string | null = null;
    const stop = (reason: string) => {
      why ??= reason;
      controller.abort(new HubLimitError(reason));
    };
    const signal = init?.signal ? AbortSignal.any([init.signal, controller.signal]) : controller.signal;
    const answerTimer = setTimeout(() => stop(`no answer from ${where} within ${seconds} s (HF_HUB_DOWNLOAD_TIMEOUT)`), ms);
    let res: Response;
    try {
      res = await fetch(input, { ...init, signal });
    } catch (err) {
      if (why) throw new HubLimitError(why);
      throw err;
    } finally {
      clearTimeout(answerTimer);
    }
    if (!res.body || [101, 204, 205, 304].includes(res.status)) return res;
    const api = url.pathname.startsWith('/api/');
    const reader = res.body.getReader();
    let total = 0;
    let inWindow = 0;
    let waiting = false;
    let watch: ReturnType<typeof setInterval> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start() {
        watch = setInterval(() => {
          if (waiting && inWindow < MIN_BYTES_PER_WINDOW) {
            stop(`${where} sent ${inWindow} bytes in ${seconds} s (a stalled or throttled connection; HF_HUB_DOWNLOAD_TIMEOUT sets the window)`);
          }
          inWindow = 0;
        }, ms);
        watch.unref?.();
      },
      async pull(c) {
        waiting = true;
        try {
          const { done, value } = await reader.read();
          if (done) {
            clearInterval(watch);
            c.close();
            return;
          }
          total += value.length;
          inWindow += value.length;
          if (api && total > MAX_API_BYTES) {
            stop(`the answer of ${where} is larger than ${MAX_API_BYTES >> 20} MiB, more than any listing or model info`);
            throw new HubLimitError(why!);
          }
          c.enqueue(value);
        } catch (err) {
          clearInterval(watch);
          c.error(why ? new HubLimitError(why) : err);
        } finally {
          waiting = false;
        }
      },
      cancel(reason) {
        clearInterval(watch);
        return reader.cancel(reason);
      },
    });
    const bounded = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    Object.defineProperty(bounded, 'url', { value: res.url }); // the hub client reads where a redirect led
    return bounded;
  };
}
