"""The commented default configuration written by ``run-agent config init``."""

DEFAULT_CONFIG_TEMPLATE = """\
# Conductor Loop configuration. Found by: --config, $CONDUCTOR_CONFIG, ./config.yaml,
# $XDG_CONFIG_HOME/conductor/config.yaml (~/.config/conductor/config.yaml).
# Durations accept seconds or 500ms / 10s / 5m / 1h.

agents:
  # name -> settings. type is one of: claude, codex, gemini, perplexity, xai.
  # Give a token inline (token:) or, better, in a file (token_file:, ~ is expanded);
  # without one, a CLI agent uses its own login or its token variable.
  # Agents see a copy of this file without inline tokens, secret-looking env entries
  # and the API key: runs started from inside an agent need token_file (or the token
  # exported for the agent, as a run of the same agent has it). Agents get only basic
  # variables (PATH, HOME, locale, proxies, ...) from the server's environment, their
  # own token variable and the env given here.
  # For the claude, codex and gemini CLIs, type + token (or token_file) + base_url +
  # model is enough: the runner sets what each CLI needs (see the README). Leave the
  # token out to use the CLI's own login instead (`claude`, `codex login`, `gemini`).
  claude:
    type: claude
    # token_file: ~/.config/conductor/claude.token
    # base_url: https://api.anthropic.com   # ANTHROPIC_BASE_URL, e.g. a proxy
    # model: claude-sonnet-4-5              # --model
    timeout: 300
    # command: /usr/local/bin/claude    # executable override
    # args: []                          # extra arguments
    # env: {}                           # extra environment (IS_SANDBOX=1 is set as root)
  codex:
    type: codex
    # token_file: ~/.config/conductor/codex.token
    # base_url: https://api.openai.com/v1   # an OpenAI Responses API endpoint
    # model: gpt-5.5
    timeout: 300
  gemini:
    type: gemini
    # token_file: ~/.config/conductor/gemini.token
    # base_url: https://generativelanguage.googleapis.com   # GOOGLE_GEMINI_BASE_URL
    # model: gemini-2.5-flash
    timeout: 300
  # xai:
  #   type: xai
  #   token_file: ~/.config/conductor/xai.token
  #   base_url: https://api.x.ai/v1
  #   model: grok-2
  #   # USD per million tokens, for agents that report no cost of their own (claude
  #   # does): cost = uncached input * input + cached input * cached_input (default:
  #   # the input price) + output * output, per million
  #   pricing: {input_per_mtok: 2, output_per_mtok: 10, cached_input_per_mtok: 0.5}

defaults:
  agent: claude
  timeout: 300                 # per run, 0 = none
  max_restarts: 100
  restart_delay: 1
  child_wait_timeout: 300
  stop_grace_period: 30
  max_concurrent_runs: 0       # 0 = unlimited
  max_concurrent_root_tasks: 0
  # A task's budget over all its runs, children included (none, or 0: no limit); a task
  # overrides it with run-agent task --max-cost / --max-tokens / --budget-action.
  # max_cost_usd: 5            # USD; runs without a known cost count as $0
  # max_tokens: 2000000        # input + output tokens
  # budget_action: finish_run  # stop_run: also stop the task's running runs at once

api:
  host: 127.0.0.1
  port: 14355
  cors_origins: [http://localhost:3000]
  # api_key_file: ~/.config/conductor/api.key

storage:
  runs_dir: ~/.run-agent/runs
  # state_dir: ~/.local/state/conductor-loop   # our own state (generated key, …), outside runs_dir
  bus_fsync: false
  bus_rotate_bytes: 0          # rotate message bus files past this size, 0 = never

# Where the server runs task loops: `local` (processes on its host), or a Ray cluster
# (`pip install conductor-loop[ray]`; docs/scale-out.md). Environment: CONDUCTOR_EXECUTOR,
# CONDUCTOR_RAY_ADDRESS.
executor: local
# executor:
#   type: ray
#   address: ray://ray-head:10001   # or auto: the cluster this host is a node of
#   resources: {agent_slots: 1}     # what one loop needs of a node
#   max_retries: 3                  # restarts of a loop whose node died
#   namespace: conductor-loop
"""
