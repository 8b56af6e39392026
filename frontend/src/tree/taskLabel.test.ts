import { describe, expect, it } from "vitest";
import { splitTaskId } from "./taskLabel";

describe("splitTaskId", () => {
  it("shows the slug and a short stamp of scheme ids, other ids as they are", () => {
    expect(splitTaskId("task-20260223-204805-fix-the-bug")).toEqual({ name: "fix-the-bug", stamp: "02-23 20:48" });
    expect(splitTaskId("task-20260223-204805")).toEqual({ name: "task-20260223-204805", stamp: "02-23 20:48" });
    expect(splitTaskId("my-task")).toEqual({ name: "my-task", stamp: null });
  });
});
