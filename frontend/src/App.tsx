/**
 * The page: a header (server state, live indicator, New task, API key), the explorer
 * tree on the left, and the routed view (home, project, task, run) with its message
 * bus on the right.
 */

import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from "react";
import { ALL_RUNS_STREAM_PATH } from "./api/endpoints";
import type { SseEvent } from "./api/sse";
import type { RunSummary, ServerStatus } from "./api/types";
import { useApp } from "./app/context";
import { navigate, useRoute, type Route } from "./app/routing";
import { useEventStream } from "./app/useEventStream";
import { useResource } from "./app/useResource";
import { ExplorerTree } from "./explorer/ExplorerTree";
import { HomeView } from "./projects/HomeView";
import { ProjectView } from "./projects/ProjectView";
import { RunView } from "./runs/RunView";
import { StartTaskDialog } from "./tasks/StartTaskDialog";
import { TaskView } from "./tasks/TaskView";
import { ApiKeyDialog } from "./widgets/ApiKeyDialog";
import { NoticeTray } from "./widgets/NoticeTray";
import { StreamIndicator } from "./widgets/StreamIndicator";

const STATUS_REFRESH_MS = 15_000;
const STATUS_WHILE_INDEXING_MS = 1_000;
const STATUS_AFTER_EVENT_MS = 500;

export function App() {
  const { api, keys, explorer, notices } = useApp();
  const route = useRoute();
  const [startOpen, setStartOpen] = useState(false);
  const [keyOpen, setKeyOpen] = useState(false);
  const needsKey = useSyncExternalStore(keys.subscribe, () => keys.needsKey);
  const keyVersion = useSyncExternalStore(keys.subscribe, () => keys.get());

  // Server status (agents for the start form, active runs for the header).
  const [statusTick, setStatusTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setStatusTick((t) => t + 1), STATUS_REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  const status = useResource(`status#${statusTick}@${keyVersion ?? ""}`, (signal) => api.status(signal));

  // Just after a server start its lists may be partial: ask again soon, and load the
  // tree again once the index is complete.
  const indexing = status.data?.partial === true;
  const wasIndexing = useRef(false);
  useEffect(() => {
    if (indexing) {
      wasIndexing.current = true;
      const timer = setTimeout(() => setStatusTick((t) => t + 1), STATUS_WHILE_INDEXING_MS);
      return () => clearTimeout(timer);
    }
    if (status.data && wasIndexing.current) {
      wasIndexing.current = false;
      explorer.resync();
    }
    return undefined;
  }, [indexing, status.data, explorer]);

  // First load, and again with a new API key.
  useEffect(() => {
    explorer.resync();
  }, [explorer, keyVersion]);

  // Every run's changes, applied to the tree one by one; the header's counts follow.
  const statusTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => clearTimeout(statusTimer.current ?? undefined), []);
  const onRunEvent = useCallback(
    (event: SseEvent) => {
      if (event.event !== "status") return;
      explorer.applyRun(JSON.parse(event.data) as RunSummary);
      statusTimer.current ??= setTimeout(() => {
        statusTimer.current = null;
        setStatusTick((t) => t + 1);
      }, STATUS_AFTER_EVENT_MS);
    },
    [explorer],
  );
  // The stream starts with the runs running at connect time: whatever was read before
  // it was live (or while it was down) is read again.
  const runEvents = useEventStream(api.client.url(ALL_RUNS_STREAM_PATH), onRunEvent, {
    onLive: () => explorer.resync(),
  });

  const openProject = route.view === "home" ? null : route.projectId;

  return (
    <div className="app">
      <header className="topbar">
        <a className="brand" href={import.meta.env.BASE_URL} onClick={(e) => (e.preventDefault(), navigate({ view: "home" }))}>
          Conductor Loop
        </a>
        <div className="topbar-status">
          {status.data && (
            <span className="muted" title={`runs directory ${status.data.runs_dir}`}>
              v{status.data.version} · {status.data.active_runs} active run{status.data.active_runs === 1 ? "" : "s"}
              {status.data.queued_tasks > 0 && ` · ${status.data.queued_tasks} queued`}
              {indexing && " · indexing…"}
            </span>
          )}
          <StreamIndicator state={runEvents} label="events live" />
        </div>
        <div className="topbar-actions">
          <button type="button" onClick={() => setKeyOpen(true)} title="Set the API key">
            API key{keys.get() ? " ✓" : ""}
          </button>
          <button type="button" className="button-primary" onClick={() => setStartOpen(true)}>
            New task
          </button>
        </div>
      </header>
      <div className="layout">
        <ExplorerTree route={route} />
        <main className="main" id="main">
          <RoutedView route={route} status={status.data} statusError={status.error} />
        </main>
      </div>
      <NoticeTray store={notices} />
      {startOpen && (
        <StartTaskDialog
          status={status.data}
          initialProject={openProject}
          onClose={() => setStartOpen(false)}
          onStarted={(created) => {
            setStartOpen(false);
            notices.info(`Started task ${created.task_id} (${created.status})`);
            void explorer.loadProject(created.project_id);
            explorer.refreshProjectsSoon(0);
            navigate(
              created.run_id
                ? { view: "run", projectId: created.project_id, taskId: created.task_id, runId: created.run_id, tab: "output" }
                : { view: "task", projectId: created.project_id, taskId: created.task_id },
            );
          }}
        />
      )}
      {(keyOpen || needsKey) && (
        <ApiKeyDialog
          keys={keys}
          reason={needsKey ? "The server answered 401: it needs an API key." : null}
          onClose={() => {
            setKeyOpen(false);
            if (keys.needsKey) keys.set(keys.get());
          }}
        />
      )}
    </div>
  );
}

function RoutedView({ route, status, statusError }: { route: Route; status: ServerStatus | null; statusError: string | null }) {
  switch (route.view) {
    case "home":
      return <HomeView status={status} statusError={statusError} />;
    case "project":
      return <ProjectView key={route.projectId} projectId={route.projectId} />;
    case "task":
      return <TaskView key={`${route.projectId}/${route.taskId}`} projectId={route.projectId} taskId={route.taskId} />;
    case "run":
      return (
        <RunView
          key={`${route.projectId}/${route.taskId}/${route.runId}`}
          projectId={route.projectId}
          taskId={route.taskId}
          runId={route.runId}
          tab={route.tab}
        />
      );
  }
}
