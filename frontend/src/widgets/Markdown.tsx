/**
 * Markdown as agents write it (output.md): GitHub-flavoured, tables and task lists
 * included. Raw HTML in the text is shown as the text it is, never interpreted, and
 * links other than http(s), mailto and relative ones are dropped (react-markdown's URL
 * filter); links open in a new tab.
 */

import type { ComponentProps } from "react";
import Markdown from "react-markdown";
import remarkGfm from "remark-gfm";

interface MdNode {
  type: string;
  value?: string;
  children?: MdNode[];
}

/** Turn raw HTML nodes into text: an agent's `<script>` is something to read, not run. */
function htmlAsText() {
  const walk = (node: MdNode) => {
    if (node.type === "html") node.type = "text";
    node.children?.forEach(walk);
  };
  return walk;
}

const plugins = [remarkGfm, htmlAsText];

function ExternalLink({ node: _node, ...props }: ComponentProps<"a"> & { node?: unknown }) {
  return <a {...props} target="_blank" rel="noreferrer noopener" />;
}

export function MarkdownView({ text, label }: { text: string; label: string }) {
  return (
    <div className="markdown" tabIndex={0} role="document" aria-label={label}>
      <Markdown remarkPlugins={plugins} components={{ a: ExternalLink }}>
        {text}
      </Markdown>
    </div>
  );
}
