/**
 * The explorer tree as the flat list of rows that are visible (the list is
 * virtualised): projects, their tasks when expanded, their runs when expanded.
 * Row ids are stable across updates so that focus and expansion survive them.
 */

import type { ProjectSummary } from "../api/types";
import type { RunNode, TaskNode } from "./runTree";

export type TreeRow =
  | {
      kind: "project";
      id: string;
      depth: number;
      parentId: null;
      expanded: boolean;
      expandable: true;
      project: ProjectSummary;
    }
  | {
      kind: "task";
      id: string;
      depth: number;
      parentId: string;
      expanded: boolean;
      expandable: boolean;
      node: TaskNode;
    }
  | {
      kind: "run";
      id: string;
      depth: number;
      parentId: string;
      expanded: boolean;
      expandable: boolean;
      node: RunNode;
      projectId: string;
    }
  | { kind: "note"; id: string; depth: number; parentId: string; expanded: false; expandable: false; text: string; tone: "muted" | "error" };

export const projectRowId = (projectId: string): string => `p:${projectId}`;
export const taskRowId = (projectId: string, taskId: string): string => `t:${projectId}/${taskId}`;
export const runRowId = (runId: string): string => `r:${runId}`;

/** What the rows need to know about one project's contents. */
export interface ProjectContents {
  tasks: TaskNode[] | null;
  loading: boolean;
  error: string | null;
}

export function treeRows(
  projects: ProjectSummary[],
  contents: (projectId: string) => ProjectContents | undefined,
  expanded: ReadonlySet<string>,
  /** Only tasks whose id contains this (case-insensitive). */
  taskFilter = "",
): TreeRow[] {
  const needle = taskFilter.trim().toLowerCase();
  const rows: TreeRow[] = [];
  for (const project of projects) {
    const projectId = projectRowId(project.project_id);
    const projectOpen = expanded.has(projectId);
    rows.push({
      kind: "project",
      id: projectId,
      depth: 0,
      parentId: null,
      expanded: projectOpen,
      expandable: true,
      project,
    });
    if (!projectOpen) continue;
    const content = contents(project.project_id);
    if (content?.error) {
      rows.push(note(projectId, 1, `Could not load: ${content.error}`, "error"));
    }
    if (!content?.tasks) {
      if (!content?.error) rows.push(note(projectId, 1, "Loading…", "muted"));
      continue;
    }
    const tasks = needle ? content.tasks.filter((t) => t.task.task_id.toLowerCase().includes(needle)) : content.tasks;
    if (tasks.length === 0) rows.push(note(projectId, 1, needle ? "No matching tasks" : "No tasks yet", "muted"));
    for (const task of tasks) {
      const taskId = taskRowId(project.project_id, task.task.task_id);
      const taskOpen = expanded.has(taskId);
      rows.push({
        kind: "task",
        id: taskId,
        depth: 1,
        parentId: projectId,
        expanded: taskOpen,
        expandable: task.runs.length > 0,
        node: task,
      });
      if (taskOpen) pushRuns(rows, task.runs, 2, taskId, project.project_id, expanded);
    }
  }
  return rows;
}

function pushRuns(
  rows: TreeRow[],
  nodes: RunNode[],
  depth: number,
  parentId: string,
  projectId: string,
  expanded: ReadonlySet<string>,
): void {
  for (const node of nodes) {
    const id = runRowId(node.run.run_id);
    const open = expanded.has(id);
    rows.push({
      kind: "run",
      id,
      depth,
      parentId,
      expanded: open,
      expandable: node.children.length > 0,
      node,
      projectId,
    });
    if (open && node.children.length > 0) pushRuns(rows, node.children, depth + 1, id, projectId, expanded);
  }
}

function note(parentId: string, depth: number, text: string, tone: "muted" | "error"): TreeRow {
  return { kind: "note", id: `${parentId}#note`, depth, parentId, expanded: false, expandable: false, text, tone };
}

/** The row ids to expand so that a run is visible: its project, task and ancestors. */
export function pathToRun(
  projectId: string,
  taskId: string,
  runId: string,
  tasks: TaskNode[] | null,
): string[] {
  const ids = [projectRowId(projectId), taskRowId(projectId, taskId)];
  const task = tasks?.find((t) => t.task.task_id === taskId);
  if (!task) return ids;
  const trail: string[] = [];
  const search = (nodes: RunNode[]): boolean => {
    for (const node of nodes) {
      if (node.run.run_id === runId) return true;
      trail.push(runRowId(node.run.run_id));
      if (search(node.children)) return true;
      trail.pop();
    }
    return false;
  };
  search(task.runs);
  return [...ids, ...trail];
}
