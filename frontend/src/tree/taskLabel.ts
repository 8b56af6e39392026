/**
 * Task ids made by the recommended scheme (`task-YYYYMMDD-HHMMSS-slug`) share a long
 * prefix; in narrow places the slug says which task it is and the stamp when.
 */
export function splitTaskId(taskId: string): { name: string; stamp: string | null } {
  const match = /^task-(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})(?:-(.+))?$/.exec(taskId);
  if (!match) return { name: taskId, stamp: null };
  const [, , month, day, hour, minute] = match;
  return { name: match[7] ?? taskId, stamp: `${month}-${day} ${hour}:${minute}` };
}
