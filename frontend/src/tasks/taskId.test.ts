import { describe, expect, it } from "vitest";
import { idProblem, slugify, suggestTaskId } from "./taskId";

describe("task id suggestion", () => {
  const when = new Date(Date.UTC(2026, 1, 23, 20, 48, 5));

  it("stamps the time and slugs the prompt's first line", () => {
    expect(suggestTaskId("Write a haiku about loops!\nmore", when)).toBe("task-20260223-204805-write-a-haiku-about-loops");
  });

  it("skips fake-agent directive lines and copes with no words", () => {
    expect(suggestTaskId("FAKE: print-lines 3\nFix the bug", when)).toBe("task-20260223-204805-fix-the-bug");
    expect(suggestTaskId("   ", when)).toBe("task-20260223-204805");
  });

  it("keeps slugs short, lowercase and to [a-z0-9-]", () => {
    const slug = slugify("Ünïcödé and ALL CAPS — with punctuation, and a very long tail of words that goes on");
    expect(slug).toMatch(/^[a-z0-9-]+$/);
    expect(slug.length).toBeLessThanOrEqual(48);
    expect(slug.startsWith("unicode-and-all-caps-with-punctuation")).toBe(true);
  });

  it("names the problem with an id the server would refuse", () => {
    expect(idProblem("", "Project")).toMatch(/required/);
    expect(idProblem("a/b", "Project")).toMatch(/\//);
    expect(idProblem(".hidden", "Task id")).toMatch(/dot/);
    expect(idProblem("fine-id", "Task id")).toBeNull();
  });
});
