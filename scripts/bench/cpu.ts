/** CPU time of another process, from /proc (Linux); undefined where that cannot be read. */
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat times: USER_HZ, 100 on every Linux build that matters. */
const USER_HZ = 100;

/** A process's own CPU seconds (all its threads) and those of its children it has waited for, user + system. */
export interface StatCpu {
  readonly self: number;
  readonly children: number;
}

/** Parses the text of /proc/<pid>/stat; undefined when it is not one. */
export function parseStatCpu(stat: string): StatCpu | undefined {
  // Fields after the command name (which may hold spaces) in parentheses: utime is the 14th field, stime the
  // 15th, cutime and cstime (reaped children, their own reaped children included) the 16th and 17th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const [utime, stime, cutime, cstime] = [11, 12, 13, 14].map((i) => Number(fields[i]));
  if (![utime, stime, cutime, cstime].every((n) => n !== undefined && Number.isFinite(n))) return undefined;
  return { self: ((utime ?? 0) + (stime ?? 0)) / USER_HZ, children: ((cutime ?? 0) + (cstime ?? 0)) / USER_HZ };
}

function statCpu(pid: number | "self"): StatCpu | undefined {
  try {
    return parseStatCpu(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** User plus system CPU seconds the process has used so far. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  return pid === undefined ? undefined : statCpu(pid)?.self;
}

/** CPU seconds of this process's children that have exited and been waited for (0 where /proc cannot be read). */
export function childrenCpuSeconds(): number {
  return statCpu("self")?.children ?? 0;
}
