/**
 * Task ids as the spec recommends: `task-YYYYMMDD-HHMMSS-<slug>`, the slug from the
 * prompt's first words (lowercase a-z, 0-9 and dashes, at most 48 characters).
 */

const SLUG_MAX = 48;

export function slugify(text: string, max = SLUG_MAX): string {
  const words = text
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    // Directive lines of the fake agent and markdown marks say nothing about the task.
    .replace(/[^a-z0-9]+/g, " ")
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  let slug = "";
  for (const word of words) {
    const next = slug ? `${slug}-${word}` : word;
    if (next.length > max) break;
    slug = next;
  }
  return slug || words[0]?.slice(0, max) || "";
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

export function suggestTaskId(prompt: string, now: Date = new Date()): string {
  const stamp =
    `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}-` +
    `${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}`;
  const firstLine = prompt.split("\n").find((line) => line.trim() && !/^\s*FAKE(@\d+\+?)?:/.test(line)) ?? "";
  const slug = slugify(firstLine, 32);
  return slug ? `task-${stamp}-${slug}` : `task-${stamp}`;
}

/** The same rules as the server's id validator, to say what is wrong before posting. */
export function idProblem(id: string, what: string): string | null {
  if (!id.trim()) return `${what} is required`;
  if (id.length > 128) return `${what} is longer than 128 characters`;
  if (id === "." || id === ".." || id.startsWith(".")) return `${what} must not start with a dot`;
  if (/[/\\\0]/.test(id)) return `${what} must not contain / or \\`;
  if (/[\x00-\x1f\x7f]/.test(id)) return `${what} must not contain control characters`;
  return null;
}
