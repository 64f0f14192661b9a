// How much memory this process may use before the kernel kills it: what the system can still give
// (MemAvailable: free memory and reclaimable cache) plus what the process holds already, capped by
// its cgroup's limit less what the rest of the cgroup uses (its working set: usage without the
// inactive file cache, which is reclaimed first). Where neither is readable (not Linux), the free
// memory Node reports.
import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';

/** A size for messages: MB under a gigabyte, GB above. */
export const gb = (bytes: number) => (bytes < 1e9 ? `${Math.round(bytes / 1e6)} MB` : `${(bytes / 1e9).toFixed(bytes < 1e10 ? 2 : 1)} GB`);

export interface AvailableMemory {
  bytes: number;
  /** Where the figure comes from, for messages. */
  source: string;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function statField(stat: string | null, field: string): number {
  const m = stat ? new RegExp(`^${field} (\\d+)$`, 'm').exec(stat) : null;
  return m ? Number(m[1]) : 0;
}

/** The memory cgroup's limit and working set, v2 or v1, or null (no limit set, or none readable). */
function cgroupLimit(): { limit: number; workingSet: number } | null {
  const membership = read('/proc/self/cgroup') ?? '';
  const v2 = /^0::(.*)$/m.exec(membership)?.[1];
  const v1 = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/m.exec(membership)?.[1];
  const candidates: { limit: string; usage: string; stat: string; inactive: string }[] = [];
  for (const base of v2 !== undefined ? [`/sys/fs/cgroup${v2}`, '/sys/fs/cgroup'] : []) {
    candidates.push({ limit: `${base}/memory.max`, usage: `${base}/memory.current`, stat: `${base}/memory.stat`, inactive: 'inactive_file' });
  }
  for (const base of v1 !== undefined ? [`/sys/fs/cgroup/memory${v1}`, '/sys/fs/cgroup/memory'] : []) {
    candidates.push({ limit: `${base}/memory.limit_in_bytes`, usage: `${base}/memory.usage_in_bytes`, stat: `${base}/memory.stat`, inactive: 'total_inactive_file' });
  }
  for (const c of candidates) {
    const limitText = read(c.limit)?.trim();
    if (limitText === undefined) continue;
    const limit = Number(limitText);
    if (limitText === 'max' || !Number.isFinite(limit) || limit >= 2 ** 60) return null; // no limit
    const usage = Number(read(c.usage)?.trim() ?? 0);
    return { limit, workingSet: Math.max(0, usage - statField(read(c.stat), c.inactive)) };
  }
  return null;
}

/** The memory this process may use in all (its current resident set included). */
export function availableMemory(): AvailableMemory {
  const rss = process.memoryUsage().rss;
  const meminfo = read('/proc/meminfo');
  const availableKb = meminfo ? /^MemAvailable:\s+(\d+) kB$/m.exec(meminfo)?.[1] : undefined;
  let bytes = availableKb !== undefined ? Number(availableKb) * 1024 + rss : freemem() + rss;
  let source = availableKb !== undefined ? 'MemAvailable in /proc/meminfo, plus what this process holds' : 'free memory, plus what this process holds';
  const cgroup = cgroupLimit();
  if (cgroup) {
    const inCgroup = cgroup.limit - Math.max(0, cgroup.workingSet - rss);
    if (inCgroup < bytes) {
      bytes = inCgroup;
      source = `the cgroup's memory limit of ${(cgroup.limit / 1e9).toFixed(1)} GB, less what the rest of the cgroup uses`;
    }
  }
  return { bytes, source };
}

/** A size such as 12G, 12GB, 16000M, 1.5T or a plain number of bytes. */
export function parseByteSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(text);
  if (!m) return null;
  const scale = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * scale);
}

/**
 * The most memory this process has had resident, in bytes: Linux's VmHWM (/proc/self/status), the
 * high-water mark of this program's own address space. Not getrusage's maxrss, which Linux carries
 * across exec: a process started by a large one (a test runner, a notebook, a benchmark that has
 * loaded its own model) reports at least its parent's resident size at the fork. Where VmHWM is not
 * readable (not Linux), maxrss is all there is.
 */
export function peakResidentBytes(): number {
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(read('/proc/self/status') ?? '')?.[1];
  return kb !== undefined ? Number(kb) * 1024 : process.resourceUsage().maxRSS * 1024;
}
