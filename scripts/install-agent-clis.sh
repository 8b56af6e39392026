#!/usr/bin/env bash
# Install the pinned agent CLIs (Claude Code, Codex, Gemini CLI) from the npm registry
# into a cache outside the repository, for the real-agent tests (tests/agents, `make
# agents-test`). Nothing lands in the work tree: no node_modules in git.
#
#   scripts/install-agent-clis.sh          install when missing, then print the bin dir
#   scripts/install-agent-clis.sh --check  print the bin dir, or fail when not installed
#
# Where: $CONDUCTOR_AGENT_CLIS_DIR when set, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/conductor-loop/agent-clis/<hash of the pinned set>, so a
# new pin installs beside the old set instead of over it. The install goes to a temporary
# folder renamed into place when complete, under a lock: a run that was interrupted or
# another one running at the same time never leaves a half-installed set behind.
# The last line of stdout is the folder holding the `claude`, `codex` and `gemini`
# commands; messages go to stderr.
set -euo pipefail

# The pinned set: change a version here and the next run installs the new set.
PACKAGES=(
  "@anthropic-ai/claude-code@2.1.197"
  "@openai/codex@0.171.0"
  "@google/gemini-cli@0.61.0"
)
COMMANDS=(claude codex gemini)

mode=install
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

pinned=$(printf '%s\n' "${PACKAGES[@]}")
hash=$(printf '%s' "$pinned" | sha256sum | cut -c1-12)
dir=${CONDUCTOR_AGENT_CLIS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/conductor-loop/agent-clis/$hash}
bin="$dir/node_modules/.bin"
stamp="$dir/.installed"

installed() {
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$pinned" ] || return 1
  local command
  for command in "${COMMANDS[@]}"; do
    [ -x "$bin/$command" ] || return 1
  done
}

if [ "$mode" = check ]; then
  if ! installed; then
    echo "the agent CLIs ($(echo $pinned)) are not installed in $dir:" \
      "run scripts/install-agent-clis.sh (make agents-test does)" >&2
    exit 1
  fi
  echo "$bin"
  exit 0
fi

command -v npm >/dev/null || { echo "npm is missing: the agent CLIs need Node.js >= 20" >&2; exit 1; }
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9
if installed; then
  echo "agent CLIs already installed in $dir" >&2
else
  tmp="$dir.tmp.$$"
  trap 'rm -rf "$tmp"' EXIT
  rm -rf "$tmp"
  mkdir -p "$tmp"
  started=$(date +%s)
  echo "installing $(echo $pinned) into $dir" >&2
  npm install --prefix "$tmp" --no-audit --no-fund --no-update-notifier --loglevel=error \
    "${PACKAGES[@]}" >&2
  printf '%s' "$pinned" >"$tmp/.installed"
  rm -rf "$dir"
  mv -T "$tmp" "$dir"
  trap - EXIT
  installed || { echo "install finished but the commands are missing in $bin" >&2; exit 1; }
  echo "installed in $(( $(date +%s) - started ))s, $(du -sh "$dir" | cut -f1)" >&2
  for command in "${COMMANDS[@]}"; do
    echo "$command: $("$bin/$command" --version 2>/dev/null | head -1)" >&2
  done
fi
echo "$bin"
