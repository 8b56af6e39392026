/** Every server endpoint the UI uses, typed; paths are built in one place. */

import type { ApiClient } from "./client";
import type {
  BusMessage,
  MessageList,
  MessagePost,
  ProjectList,
  ProjectStats,
  RunDetail,
  RunFile,
  RunList,
  ServerStatus,
  StopAccepted,
  TaskAction,
  TaskCreate,
  TaskCreated,
  TaskDetail,
  TaskFile,
  TaskList,
} from "./types";

export type RunFileName = "output.md" | "stdout" | "stderr" | "prompt";

/** A message bus: a project's, or one task's. */
export interface BusScope {
  projectId: string;
  taskId?: string | null;
}

const seg = encodeURIComponent;

export function projectPath(projectId: string): string {
  return `/api/projects/${seg(projectId)}`;
}

export function taskPath(projectId: string, taskId: string): string {
  return `${projectPath(projectId)}/tasks/${seg(taskId)}`;
}

export function runPath(projectId: string, taskId: string, runId: string): string {
  return `${taskPath(projectId, taskId)}/runs/${seg(runId)}`;
}

export function busPath(scope: BusScope): string {
  const base = scope.taskId ? taskPath(scope.projectId, scope.taskId) : projectPath(scope.projectId);
  return `${base}/messages`;
}

export function runStreamPath(projectId: string, taskId: string, runId: string): string {
  return `${runPath(projectId, taskId, runId)}/stream`;
}

export const ALL_RUNS_STREAM_PATH = "/api/v1/runs/stream/all";

export class ConductorApi {
  constructor(readonly client: ApiClient) {}

  status(signal?: AbortSignal): Promise<ServerStatus> {
    return this.client.get("/api/v1/status", { signal });
  }

  projects(signal?: AbortSignal): Promise<ProjectList> {
    return this.client.get("/api/projects", { signal });
  }

  projectStats(projectId: string, signal?: AbortSignal): Promise<ProjectStats> {
    return this.client.get(`${projectPath(projectId)}/stats`, { signal });
  }

  tasks(projectId: string, signal?: AbortSignal): Promise<TaskList> {
    return this.client.get(`${projectPath(projectId)}/tasks`, { signal });
  }

  /** Every run of a project (newest first), for the tree. */
  projectRuns(projectId: string, signal?: AbortSignal): Promise<RunList> {
    return this.client.get("/api/v1/runs", { query: { project_id: projectId }, signal });
  }

  task(projectId: string, taskId: string, signal?: AbortSignal): Promise<TaskDetail> {
    return this.client.get(taskPath(projectId, taskId), { signal });
  }

  taskFile(projectId: string, taskId: string, signal?: AbortSignal): Promise<TaskFile> {
    return this.client.get(`${taskPath(projectId, taskId)}/file`, { signal });
  }

  createTask(request: TaskCreate): Promise<TaskCreated> {
    return this.client.post("/api/v1/tasks", request);
  }

  stopTask(projectId: string, taskId: string): Promise<TaskAction> {
    return this.client.post(`${taskPath(projectId, taskId)}/stop`);
  }

  resumeTask(projectId: string, taskId: string): Promise<TaskCreated> {
    return this.client.post(`${taskPath(projectId, taskId)}/resume`);
  }

  deleteTask(projectId: string, taskId: string): Promise<TaskAction> {
    return this.client.delete(taskPath(projectId, taskId));
  }

  run(projectId: string, taskId: string, runId: string, signal?: AbortSignal): Promise<RunDetail> {
    return this.client.get(runPath(projectId, taskId, runId), { signal });
  }

  runFile(
    projectId: string,
    taskId: string,
    runId: string,
    name: RunFileName,
    signal?: AbortSignal,
  ): Promise<RunFile> {
    return this.client.get(`${runPath(projectId, taskId, runId)}/file`, { query: { name }, signal });
  }

  /** run-info.yaml exactly as stored. */
  runInfo(runId: string, signal?: AbortSignal): Promise<string> {
    return this.client.get(`/api/v1/runs/${seg(runId)}/info`, { signal, text: true });
  }

  stopRun(projectId: string, taskId: string, runId: string): Promise<StopAccepted> {
    return this.client.post(`${runPath(projectId, taskId, runId)}/stop`);
  }

  deleteRun(projectId: string, taskId: string, runId: string): Promise<StopAccepted> {
    return this.client.delete(runPath(projectId, taskId, runId));
  }

  /** Up to ``count`` messages just before ``msgId`` (oldest first): paging back. */
  messagesBefore(scope: BusScope, msgId: string, count: number, signal?: AbortSignal): Promise<MessageList> {
    return this.client.get(busPath(scope), { query: { before: msgId, tail: count }, signal });
  }

  postMessage(scope: BusScope, message: MessagePost): Promise<BusMessage> {
    return this.client.post(busPath(scope), message);
  }
}
