/** CPU time of another process, from /proc (Linux); undefined where that cannot be read. */
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat times: USER_HZ, 100 on every Linux build that matters. */
const USER_HZ = 100;

/** User plus system CPU seconds the process has used so far. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) in parentheses: utime is the 14th field, stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / USER_HZ : undefined;
  } catch {
    return undefined;
  }
}
