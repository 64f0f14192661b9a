// strftime_now for chat templates, as transformers gives it: Python's datetime.now().strftime(format)
// in the C locale (Python never sets LC_TIME from the environment), so month and day names are
// English wherever the process runs. @huggingface/jinja's own follows the process's locale ("Dez"
// under de_DE: a German user's Llama 3.1 system prompt said "07 Dez. 2026" where transformers says
// "07 Dec 2026") and leaves directives it lacks in the text; this one refuses those by name.
import { GiftjsError } from '../errors.js';

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Day of the year, 1-based, in local time (Python's %j). */
function dayOfYear(d: Date): number {
  const start = new Date(d.getFullYear(), 0, 1);
  const today = new Date(d.getFullYear(), d.getMonth(), d.getDate());
  // Whole local days between two local midnights; rounding absorbs a daylight-saving hour.
  return Math.round((today.getTime() - start.getTime()) / 86_400_000) + 1;
}

/** Python's directives in the C locale, for a naive local datetime (%z and %Z are empty there). */
const DIRECTIVES: Record<string, (d: Date) => string> = {
  a: (d) => DAYS[d.getDay()].slice(0, 3),
  A: (d) => DAYS[d.getDay()],
  w: (d) => String(d.getDay()),
  d: (d) => pad(d.getDate()),
  b: (d) => MONTHS[d.getMonth()].slice(0, 3),
  B: (d) => MONTHS[d.getMonth()],
  m: (d) => pad(d.getMonth() + 1),
  y: (d) => pad(d.getFullYear() % 100),
  Y: (d) => String(d.getFullYear()),
  H: (d) => pad(d.getHours()),
  I: (d) => pad(d.getHours() % 12 === 0 ? 12 : d.getHours() % 12),
  p: (d) => (d.getHours() < 12 ? 'AM' : 'PM'),
  M: (d) => pad(d.getMinutes()),
  S: (d) => pad(d.getSeconds()),
  f: (d) => pad(d.getMilliseconds() * 1000, 6),
  j: (d) => pad(dayOfYear(d), 3),
  z: () => '',
  Z: () => '',
  '%': () => '%',
};

/** Python's date.strftime(format) for `date` in the C locale; a directive it lacks is refused by name. */
export function pythonStrftime(date: Date, format: unknown): string {
  if (typeof format !== 'string') throw new GiftjsError(`the chat template calls strftime_now with ${typeof format}; it takes a format string`);
  return format.replace(/%(.?)/gs, (token, directive: string) => {
    const render = DIRECTIVES[directive];
    if (!render) {
      throw new GiftjsError(`the chat template calls strftime_now with '${token}', which giftjs does not format (it has %${Object.keys(DIRECTIVES).join(' %')}, as Python in the C locale)`);
    }
    return render(date);
  });
}

/** The chat templates' strftime_now: now, in local time, as transformers formats it. */
export function strftimeNow(format: unknown): string {
  return pythonStrftime(new Date(), format);
}
