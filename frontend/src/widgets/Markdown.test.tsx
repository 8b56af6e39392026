import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { MarkdownView } from "./Markdown";

afterEach(cleanup);

function view(text: string) {
  render(<MarkdownView text={text} label="output.md" />);
  return screen.getByRole("document", { name: "output.md" });
}

describe("MarkdownView", () => {
  it("renders what agents write: headings, lists, code, tables, task lists", () => {
    const doc = view(
      [
        "# Result",
        "",
        "Fixed **two** bugs in `parser.py`:",
        "",
        "1. torn tails",
        "2. legacy lines",
        "",
        "```python",
        "print('hi')",
        "```",
        "",
        "| file | lines |",
        "| --- | --- |",
        "| a.py | 12 |",
        "",
        "- [x] tests pass",
        "- [ ] docs",
      ].join("\n"),
    );
    expect(within(doc).getByRole("heading", { level: 1, name: "Result" })).toBeTruthy();
    expect(within(doc).getByText("two").tagName).toBe("STRONG");
    expect(within(doc).getByText("parser.py").tagName).toBe("CODE");
    expect(within(doc).getAllByRole("listitem").map((li) => li.textContent?.trim())).toEqual([
      "torn tails",
      "legacy lines",
      "tests pass",
      "docs",
    ]);
    expect(doc.querySelector("pre code")?.textContent).toBe("print('hi')\n");
    expect(within(doc).getByRole("table")).toBeTruthy();
    expect(within(doc).getByRole("cell", { name: "a.py" })).toBeTruthy();
    const boxes = within(doc).getAllByRole("checkbox") as HTMLInputElement[];
    expect(boxes.map((b) => b.checked)).toEqual([true, false]);
  });

  it("shows raw HTML as text and never runs it", () => {
    const doc = view('Before <img src=x onerror="alert(1)"> after\n\n<script>alert(2)</script>\n');
    expect(doc.querySelector("img")).toBeNull();
    expect(doc.querySelector("script")).toBeNull();
    expect(doc.textContent).toContain('<img src=x onerror="alert(1)">');
    expect(doc.textContent).toContain("<script>alert(2)</script>");
  });

  it("keeps web links, opening them in a new tab, and drops javascript: ones", () => {
    const doc = view("[docs](https://example.com/docs) and [bad](javascript:alert(1))");
    const good = within(doc).getByRole("link", { name: "docs" });
    expect(good.getAttribute("href")).toBe("https://example.com/docs");
    expect(good.getAttribute("target")).toBe("_blank");
    expect(good.getAttribute("rel")).toContain("noopener");
    const bad = within(doc).getByText("bad");
    expect(bad.getAttribute("href") ?? "").not.toContain("javascript");
  });
});
