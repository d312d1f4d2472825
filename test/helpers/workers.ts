/** Helpers for end-to-end tests of `gyre serve --workers N` (one node per worker process). */
import { apiPost } from './clients.js';
import { API_KEY } from './e2e-config.js';
import type { RunningGyre } from './gyre.js';

/** The figures of one node as the `info` API lists them. */
export interface NodeFigures {
  uid: string;
  name: string;
  num_clients?: number;
}

/** The nodes the `info` API reports (one per worker process). */
export async function nodesOf(g: RunningGyre): Promise<NodeFigures[]> {
  const res = await apiPost(`${g.apiUrl}/info`, {}, { 'X-API-Key': API_KEY });
  return (res.json as { result?: { nodes?: NodeFigures[] } }).result?.nodes ?? [];
}

/** Pids of the processes that logged `gyre listening`, oldest first. */
export function listeningPids(g: RunningGyre): number[] {
  const pids: number[] = [];
  for (const line of g.output().split('\n')) {
    if (!line.includes('"gyre listening"')) continue;
    try {
      pids.push((JSON.parse(line) as { pid: number }).pid);
    } catch {
      // not a JSON log line
    }
  }
  return pids;
}
