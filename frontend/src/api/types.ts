/** Shapes the server sends (see src/conductor_loop/api/models.py). */

export type RunStatus = "running" | "completed" | "failed" | "stopped";
export type TaskStatus = "queued" | "running" | "completed" | "failed" | "stopped" | "idle";

/** What a run's agent reported (cost: its own or from the agent's pricing); null where unknown. */
export interface RunUsage {
  /** all input tokens, cached ones included */
  input_tokens: number | null;
  output_tokens: number | null;
  /** the part of the input read from a prompt cache */
  cached_input_tokens: number | null;
  cost_usd: number | null;
}

/** The sum over runs of what they reported, and how many of them reported anything. */
export interface UsageTotal extends RunUsage {
  runs: number;
}

export interface RunSummary {
  run_id: string;
  project_id: string;
  task_id: string;
  parent_run_id: string;
  previous_run_id: string;
  agent: string;
  status: RunStatus | string;
  start_time: string;
  end_time: string;
  exit_code: number;
  pid: number;
  process_ownership: string;
  error_summary: string;
  backend_model: string;
  host: string;
  /** null when the run reported nothing (absent from older servers) */
  usage?: RunUsage | null;
}

export interface RunDetail extends RunSummary {
  run_dir: string;
  cwd: string;
  commandline: string;
  agent_version: string;
  instance_id: string;
  heartbeat_time: string;
  /** file name → size in bytes, for the files present */
  files: Record<string, number>;
  /** where the Ray executor placed the run: empty outside Ray, absent from older servers */
  ray_node_id?: string;
  ray_worker_id?: string;
  ray_job_id?: string;
  ray_node_name?: string;
}

export interface RunList {
  runs: RunSummary[];
  total: number;
  offset: number;
  limit: number | null;
  /** The server, just started, is still indexing: the list may miss runs. */
  partial?: boolean;
}

export interface RunFile {
  run_id: string;
  name: string;
  size: number;
  offset: number;
  truncated: boolean;
  content: string;
}

export interface StopAccepted {
  run_id: string;
  status: string;
  stop_requested: boolean;
}

export interface TaskSummary {
  project_id: string;
  task_id: string;
  status: TaskStatus | string;
  done: boolean;
  run_count: number;
  last_run_id: string | null;
  last_run_status: string | null;
  last_activity: string | null;
  queue_position: number | null;
  depends_on: string[];
  waiting_for: string[];
  /** the total over the task's runs */
  usage?: UsageTotal;
  /** why the task's last loop stopped (a stop request, its budget); null unless it did */
  stop_reason?: string | null;
}

/** A task's budget and what its runs spent (known at each run's end). */
export interface TaskBudget {
  /** null: no cost limit */
  max_cost_usd: number | null;
  /** null: no token limit */
  max_tokens: number | null;
  action: "finish_run" | "stop_run" | string;
  spent_cost_usd: number;
  /** input + output tokens */
  spent_tokens: number;
  /** ended runs whose cost is not known (counted as $0) */
  unknown_cost_runs: number;
  /** spending reached a limit: the loop starts no further run */
  exceeded: boolean;
}

export interface TaskDetail extends TaskSummary {
  task_dir: string;
  stop_requested: boolean;
  budget?: TaskBudget;
  runs: RunSummary[];
}

export interface TaskList {
  tasks: TaskSummary[];
  total: number;
  offset: number;
  limit: number | null;
  partial?: boolean;
}

export interface TaskFile {
  project_id: string;
  task_id: string;
  name: string;
  content: string;
}

export interface TaskCreate {
  project_id: string;
  task_id?: string;
  prompt: string;
  agent_type?: string;
  max_restarts?: number;
  max_cost_usd?: number;
  max_tokens?: number;
  budget_action?: "finish_run" | "stop_run";
}

export interface TaskCreated {
  project_id: string;
  task_id: string;
  run_id: string | null;
  status: string;
  queue_position: number | null;
}

export interface TaskAction {
  project_id: string;
  task_id: string;
  status: string;
  detail: string;
}

export interface ProjectSummary {
  project_id: string;
  task_count: number;
  run_count: number;
  running_runs: number;
  last_activity: string | null;
}

export interface ProjectList {
  projects: ProjectSummary[];
  partial?: boolean;
}

export interface ProjectStats {
  project_id: string;
  task_count: number;
  tasks_by_status: Record<string, number>;
  run_count: number;
  runs_by_status: Record<string, number>;
  bus_bytes: number;
  message_bus: string;
  /** the total over the project's runs */
  usage?: UsageTotal;
}

export interface MessageParent {
  msg_id: string;
  kind: string;
  meta: Record<string, string>;
}

export interface MessageLink {
  url: string;
  label: string;
  kind: string;
}

export interface BusMessage {
  msg_id: string;
  ts: string;
  type: string;
  project_id: string;
  task_id: string;
  run_id: string;
  issue_id?: string | null;
  parents: MessageParent[];
  links: MessageLink[];
  meta: Record<string, string>;
  body: string;
}

export interface MessageList {
  messages: BusMessage[];
  total: number;
}

export interface MessagePost {
  type: string;
  body: string;
  parents?: string[];
  run_id?: string;
}

export interface TaskRef {
  project_id: string;
  task_id: string;
  run_id: string | null;
}

export interface ServerStatus {
  status: "ok";
  /** Still indexing the runs root (just started): lists and counts may be incomplete. */
  partial?: boolean;
  version: string;
  uptime_seconds: number;
  runs_dir: string;
  active_runs: number;
  runs_by_status: Record<string, number>;
  agents: string[];
  default_agent: string | null;
  running_tasks: TaskRef[];
  queued_tasks: number;
  sse_clients: number;
}

/** Data of the `log` event of a run stream. */
export interface LogEventData {
  stream: "stdout" | "stderr";
  line: string;
}

/** Data of the `status` and `done` events of a run stream. */
export interface RunStatusEventData {
  run_id: string;
  status: string;
  exit_code: number;
}
