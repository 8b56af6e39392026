/**
 * Client-side routes under the UI's base path (/ui/); the server answers every
 * /ui/... path with index.html, so these URLs can be bookmarked and reloaded.
 */

import { useMemo, useSyncExternalStore } from "react";

export type RunTab = "output" | "stdout" | "stderr" | "prompt" | "info";
export const RUN_TABS: readonly RunTab[] = ["output", "stdout", "stderr", "prompt", "info"];

export type Route =
  | { view: "home" }
  | { view: "project"; projectId: string }
  | { view: "task"; projectId: string; taskId: string }
  | { view: "run"; projectId: string; taskId: string; runId: string; tab: RunTab };

const BASE = import.meta.env.BASE_URL.replace(/\/$/, "");
const NAVIGATE_EVENT = "conductor:navigate";

export function parseRoute(pathname: string, search: string): Route {
  const path = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  const parts = path.split("/").filter(Boolean).map(safeDecode);
  if (parts[0] !== "projects" || !parts[1]) return { view: "home" };
  const projectId = parts[1];
  if (parts[2] !== "tasks" || !parts[3]) return { view: "project", projectId };
  const taskId = parts[3];
  if (parts[4] !== "runs" || !parts[5]) return { view: "task", projectId, taskId };
  const tab = new URLSearchParams(search).get("tab");
  return {
    view: "run",
    projectId,
    taskId,
    runId: parts[5],
    tab: RUN_TABS.includes(tab as RunTab) ? (tab as RunTab) : "output",
  };
}

export function routeHref(route: Route): string {
  const e = encodeURIComponent;
  switch (route.view) {
    case "home":
      return `${BASE}/`;
    case "project":
      return `${BASE}/projects/${e(route.projectId)}`;
    case "task":
      return `${BASE}/projects/${e(route.projectId)}/tasks/${e(route.taskId)}`;
    case "run": {
      const tab = route.tab === "output" ? "" : `?tab=${route.tab}`;
      return `${BASE}/projects/${e(route.projectId)}/tasks/${e(route.taskId)}/runs/${e(route.runId)}${tab}`;
    }
  }
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

export function navigate(route: Route, { replace = false } = {}): void {
  const href = routeHref(route);
  if (href === location.pathname + location.search) return;
  if (replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  window.dispatchEvent(new Event(NAVIGATE_EVENT));
}

function subscribe(listener: () => void): () => void {
  window.addEventListener("popstate", listener);
  window.addEventListener(NAVIGATE_EVENT, listener);
  return () => {
    window.removeEventListener("popstate", listener);
    window.removeEventListener(NAVIGATE_EVENT, listener);
  };
}

const snapshot = () => location.pathname + location.search;

/** The current route; re-renders on navigation. */
export function useRoute(): Route {
  const href = useSyncExternalStore(subscribe, snapshot);
  return useMemo(() => {
    const query = href.indexOf("?");
    return parseRoute(query < 0 ? href : href.slice(0, query), query < 0 ? "" : href.slice(query));
  }, [href]);
}
