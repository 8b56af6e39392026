/**
 * The projects → tasks → runs tree. Virtualised (only the rows in view are in the
 * DOM), so a project with thousands of runs scrolls smoothly. Keyboard: ↑/↓ move,
 * → opens or goes to the first child, ← closes or goes to the parent, Home/End,
 * Enter shows the row, Space opens/closes it (the WAI-ARIA tree pattern, with
 * aria-activedescendant so focus stays on the tree while rows come and go).
 */

import { useVirtualizer } from "@tanstack/react-virtual";
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { hashText } from "../api/sse";
import { useApp, useExplorer } from "../app/context";
import { navigate, type Route } from "../app/routing";
import { splitTaskId } from "../tree/taskLabel";
import { pathToRun, projectRowId, runRowId, taskRowId, treeRows, type TreeRow } from "../tree/treeRows";
import { RunDuration } from "../widgets/RunDuration";
import { StatusBadge } from "../widgets/StatusBadge";

const ROW_HEIGHT = 30;

const ORPHAN_TEXT = {
  "parent-missing": "The run that spawned this one is not in this task (deleted, or another task)",
  "previous-missing": "The previous iteration of this loop is missing (deleted)",
  cycle: "Its parent/previous links form a cycle",
} as const;

function domId(rowId: string): string {
  return `tree-${hashText(rowId).replace(":", "-")}`;
}

function routeRowId(route: Route): string | null {
  switch (route.view) {
    case "home":
      return null;
    case "project":
      return projectRowId(route.projectId);
    case "task":
      return taskRowId(route.projectId, route.taskId);
    case "run":
      return runRowId(route.runId);
  }
}

function rowRoute(row: TreeRow): Route | null {
  switch (row.kind) {
    case "project":
      return { view: "project", projectId: row.project.project_id };
    case "task":
      return { view: "task", projectId: row.node.task.project_id, taskId: row.node.task.task_id };
    case "run":
      return { view: "run", projectId: row.projectId, taskId: row.node.run.task_id, runId: row.node.run.run_id, tab: "output" };
    case "note":
      return null;
  }
}

export function ExplorerTree({ route }: { route: Route }) {
  const { explorer } = useApp();
  const snapshot = useExplorer();
  const [filter, setFilter] = useState("");
  const scrollRef = useRef<HTMLDivElement>(null);

  const rows = useMemo(
    () =>
      treeRows(
        snapshot.projects ?? [],
        (projectId) => {
          const state = snapshot.byProject.get(projectId);
          return state && { tasks: explorer.tree(projectId), loading: state.loading, error: state.error };
        },
        snapshot.expanded,
        filter,
      ),
    [snapshot, explorer, filter],
  );
  const indexById = useMemo(() => new Map(rows.map((row, index) => [row.id, index])), [rows]);

  // Opened projects load their tasks and runs.
  useEffect(() => {
    for (const id of snapshot.expanded) if (id.startsWith("p:")) explorer.ensureProject(id.slice(2));
  }, [snapshot.expanded, explorer]);

  // The route's target is revealed once: its project, task and ancestor runs open
  // (later the user may close them again).
  const selectedId = routeRowId(route);
  const projectTree = route.view === "home" ? null : explorer.tree(route.projectId);
  const revealed = useRef<string | null>(null);
  useEffect(() => {
    if (route.view === "home" || revealed.current === selectedId) return;
    explorer.ensureProject(route.projectId);
    if (route.view === "project") explorer.expand([projectRowId(route.projectId)]);
    else if (route.view === "task") explorer.expand([projectRowId(route.projectId), taskRowId(route.projectId, route.taskId)]);
    else explorer.expand(pathToRun(route.projectId, route.taskId, route.runId, projectTree));
    if (projectTree) revealed.current = selectedId;
  }, [route, selectedId, explorer, projectTree]);

  const [activeId, setActiveId] = useState<string | null>(null);
  useEffect(() => {
    if (selectedId) setActiveId(selectedId);
  }, [selectedId]);
  const activeIndex = activeId !== null ? indexById.get(activeId) : undefined;
  const effectiveIndex = activeIndex ?? (rows.length > 0 ? 0 : undefined);
  const effectiveRow = effectiveIndex !== undefined ? rows[effectiveIndex] : undefined;

  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
    getItemKey: (index) => rows[index]?.id ?? index,
  });

  // Scroll the selected row into view once it is there (after navigation or loading).
  const selectedIndex = selectedId !== null ? indexById.get(selectedId) : undefined;
  const scrolledTo = useRef<string | null>(null);
  useEffect(() => {
    if (selectedIndex === undefined || scrolledTo.current === selectedId) return;
    scrolledTo.current = selectedId;
    virtualizer.scrollToIndex(selectedIndex, { align: "auto" });
  }, [selectedId, selectedIndex, virtualizer]);

  const moveTo = useCallback(
    (index: number) => {
      const row = rows[Math.max(0, Math.min(rows.length - 1, index))];
      if (!row) return;
      setActiveId(row.id);
      virtualizer.scrollToIndex(indexById.get(row.id)!, { align: "auto" });
    },
    [rows, indexById, virtualizer],
  );

  const open = useCallback(
    (row: TreeRow) => {
      const target = rowRoute(row);
      if (!target) return;
      setActiveId(row.id);
      if (row.kind !== "run" && row.expandable) explorer.setExpanded(row.id, true);
      navigate(target);
    },
    [explorer],
  );

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (effectiveIndex === undefined || !effectiveRow) return;
    const row = effectiveRow;
    switch (event.key) {
      case "ArrowDown":
        moveTo(effectiveIndex + 1);
        break;
      case "ArrowUp":
        moveTo(effectiveIndex - 1);
        break;
      case "Home":
        moveTo(0);
        break;
      case "End":
        moveTo(rows.length - 1);
        break;
      case "PageDown":
        moveTo(effectiveIndex + 15);
        break;
      case "PageUp":
        moveTo(effectiveIndex - 15);
        break;
      case "ArrowRight":
        if (row.expandable && !row.expanded) explorer.setExpanded(row.id, true);
        else if (row.expandable) moveTo(effectiveIndex + 1);
        break;
      case "ArrowLeft":
        if (row.expandable && row.expanded) explorer.setExpanded(row.id, false);
        else if (row.parentId !== null) {
          const parent = indexById.get(row.parentId);
          if (parent !== undefined) moveTo(parent);
        }
        break;
      case "Enter":
        open(row);
        break;
      case " ":
        if (row.expandable) explorer.toggle(row.id);
        break;
      default:
        return;
    }
    event.preventDefault();
  };

  return (
    <nav className="explorer" aria-label="Projects, tasks and runs">
      <div className="explorer-filter">
        <input
          type="search"
          placeholder="Filter tasks…"
          aria-label="Filter tasks by id"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
      </div>
      {snapshot.projectsError && (
        <div className="error-text explorer-error" role="alert">
          Could not list projects: {snapshot.projectsError}{" "}
          <button type="button" className="button-quiet" onClick={() => void explorer.loadProjects()}>
            Retry
          </button>
        </div>
      )}
      {snapshot.projects?.length === 0 && <p className="muted explorer-empty">No projects yet. Start a task to create one.</p>}
      <div
        ref={scrollRef}
        className="explorer-scroll"
        role="tree"
        aria-label="Runs tree"
        tabIndex={0}
        aria-activedescendant={effectiveRow ? domId(effectiveRow.id) : undefined}
        onKeyDown={onKeyDown}
      >
        <div style={{ height: virtualizer.getTotalSize(), position: "relative" }}>
          {virtualizer.getVirtualItems().map((item) => {
            const row = rows[item.index]!;
            return (
              <TreeRowView
                key={item.key}
                row={row}
                top={item.start}
                index={item.index}
                setSize={rows.length}
                active={row.id === effectiveRow?.id}
                selected={row.id === selectedId}
                onOpen={open}
                onToggle={() => explorer.toggle(row.id)}
              />
            );
          })}
        </div>
      </div>
    </nav>
  );
}

function TreeRowView({
  row,
  top,
  active,
  selected,
  onOpen,
  onToggle,
}: {
  row: TreeRow;
  top: number;
  index: number;
  setSize: number;
  active: boolean;
  selected: boolean;
  onOpen: (row: TreeRow) => void;
  onToggle: () => void;
}) {
  const className = ["tree-row", `tree-row-${row.kind}`, active && "tree-row-active", selected && "tree-row-selected"]
    .filter(Boolean)
    .join(" ");
  return (
    <div
      id={domId(row.id)}
      className={className}
      role={row.kind === "note" ? "none" : "treeitem"}
      aria-level={row.depth + 1}
      aria-expanded={row.expandable ? row.expanded : undefined}
      aria-selected={row.kind === "note" ? undefined : selected}
      data-row-id={row.id}
      style={{ transform: `translateY(${top}px)`, height: ROW_HEIGHT, paddingLeft: 6 + row.depth * 16 }}
      onClick={() => onOpen(row)}
    >
      {row.expandable ? (
        <span
          className="tree-twisty"
          aria-hidden="true"
          onClick={(event) => {
            event.stopPropagation();
            onToggle();
          }}
        >
          {row.expanded ? "▾" : "▸"}
        </span>
      ) : (
        <span className="tree-twisty" aria-hidden="true" />
      )}
      <RowContent row={row} />
    </div>
  );
}

function RowContent({ row }: { row: TreeRow }) {
  switch (row.kind) {
    case "project": {
      const p = row.project;
      return (
        <>
          <span className="tree-label tree-project-name">{p.project_id}</span>
          {p.running_runs > 0 && <StatusBadge status="running" compact />}
          <span className="tree-meta">
            {p.task_count} task{p.task_count === 1 ? "" : "s"}
          </span>
        </>
      );
    }
    case "task": {
      const t = row.node.task;
      const label = splitTaskId(t.task_id);
      return (
        <>
          <span className="tree-label" title={t.task_id}>
            {label.name}
            {label.stamp && <span className="tree-stamp"> {label.stamp}</span>}
          </span>
          <StatusBadge status={t.status} compact />
          <span className="tree-meta">{row.node.runCount}</span>
        </>
      );
    }
    case "run": {
      const { run, iteration, orphan } = row.node;
      const child = row.depth > 2 || Boolean(run.parent_run_id);
      return (
        <>
          <span className="tree-label" title={run.run_id}>
            <span className="tree-iteration">{child ? "↳" : `#${iteration}`}</span> {run.agent || "run"}
            {child && iteration > 1 ? ` #${iteration}` : ""}
          </span>
          {orphan && (
            <span className="tree-orphan" title={ORPHAN_TEXT[orphan]} aria-label={ORPHAN_TEXT[orphan]}>
              ⚠
            </span>
          )}
          <StatusBadge status={run.status} compact />
          <span className="tree-meta">
            <RunDuration run={run} />
          </span>
        </>
      );
    }
    case "note":
      return <span className={row.tone === "error" ? "tree-note error-text" : "tree-note muted"}>{row.text}</span>;
  }
}
