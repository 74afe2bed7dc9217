# Process supervision for the scripts that start local servers (scripts/stack.sh,
# scripts/kafka-sasl.sh); sourced after scripts/lib.sh, not run.
#
# A server is a detached process whose pid is recorded in $PID_DIR/NAME.pid. It is "ours" only
# while that pid is alive and its command line contains a marker (the path of its config file,
# its listen address) that no other process has: a recycled pid or another stack's server is
# never signalled. Only recorded pids are ever stopped.
#
# The sourcing script sets LIB_NAME (prefix of messages) and PID_DIR.
# shellcheck shell=bash

proc_pid_file() { printf '%s\n' "$PID_DIR/$1.pid"; }

# The recorded pid of NAME, or fails.
proc_read_pid() {
  local f pid
  f=$(proc_pid_file "$1")
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "$pid"
}

# True if the pid is a live, non-zombie process (whatever it runs).
pid_alive() {
  local state
  [[ -r /proc/$1/stat ]] || return 1
  state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# proc_is_ours PID MARKER: live, and its command line contains MARKER.
proc_is_ours() {
  local cmdline
  pid_alive "$1" || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$2"* ]]
}

# proc_running_pid NAME MARKER: prints the pid of the running server, or fails (and removes a
# stale pid file).
proc_running_pid() {
  local pid
  pid=$(proc_read_pid "$1") || return 1
  if proc_is_ours "$pid" "$2"; then
    printf '%s\n' "$pid"
    return 0
  fi
  rm -f "$(proc_pid_file "$1")"
  return 1
}

# proc_lock FILE: an exclusive lock on FILE (fd 9) for the rest of the script; waits up to 10 min.
proc_lock() {
  mkdir -p "$(dirname "$1")"
  exec 9>"$1"
  flock -w 600 9 || die "could not lock $1 (another $(basename "$0") still running?)"
}

# proc_spawn NAME OUT_FILE CMD...: starts CMD detached (own session, no stdin, lock fd closed),
# stdout and stderr appended to OUT_FILE after a banner, and records its pid.
proc_spawn() {
  local name=$1 out=$2
  shift 2
  mkdir -p "$(dirname "$out")" "$PID_DIR"
  printf '\n===== %s: starting %s =====\n' "$(date '+%F %T')" "$name" >>"$out"
  nohup setsid "$@" >>"$out" 2>&1 </dev/null 9>&- &
  printf '%s\n' "$!" >"$(proc_pid_file "$name")"
}

# proc_wait_ready WHAT PID TIMEOUT CHECK...: polls CHECK (a command) every 0.2 s until it
# succeeds (returns 0), the process dies (prints an error, returns 1) or TIMEOUT seconds pass
# (prints an error, returns 2). The caller cleans up (pid file, log tails, stop).
proc_wait_ready() {
  local what=$1 pid=$2 timeout=$3
  shift 3
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    # (pid_alive, not proc_is_ours: right after the fork the child has not exec'd yet)
    if ! pid_alive "$pid"; then
      printf '%s: error: %s (pid %s) exited during startup\n' "$LIB_NAME" "$what" "$pid" >&2
      return 1
    fi
    "$@" && return 0
    sleep 0.2
  done
  printf '%s: error: %s did not become ready within %ss\n' "$LIB_NAME" "$what" "$timeout" >&2
  return 2
}

# proc_stop NAME MARKER GRACE [LABEL]: TERM, wait up to GRACE seconds, then KILL. Only the
# recorded pid, and only while it is still ours. Messages start with "LABEL: " when given.
proc_stop() {
  local name=$1 marker=$2 grace=$3 label=${4:+$4: } pid i
  if ! pid=$(proc_running_pid "$name" "$marker"); then
    say "${label}not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    proc_is_ours "$pid" "$marker" || break
    sleep 0.1
  done
  if proc_is_ours "$pid" "$marker"; then
    say "${label}still running after ${grace}s, sending KILL to $pid"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      proc_is_ours "$pid" "$marker" || break
      sleep 0.1
    done
  fi
  rm -f "$(proc_pid_file "$name")"
  say "${label}stopped (pid $pid)"
}

# proc_kill NAME MARKER: kill -9 the recorded pid (crash tests) and wait until it is gone.
# Prints the pid it killed.
proc_kill() {
  local name=$1 marker=$2 pid i
  pid=$(proc_running_pid "$name" "$marker") || return 1
  kill -KILL "$pid"
  for ((i = 0; i < 100; i++)); do
    proc_is_ours "$pid" "$marker" || break
    sleep 0.1
  done
  rm -f "$(proc_pid_file "$name")"
  printf '%s\n' "$pid"
}

# proc_wait_ports_closed HOST PORT...: up to 10 s until none of the ports accepts connections
# (a killed process's sockets close a little after its command line disappears).
proc_wait_ports_closed() {
  local host=$1 i p open
  shift
  for ((i = 0; i < 100; i++)); do
    open=0
    for p in "$@"; do port_open "$host" "$p" && open=1 && break; done
    ((open)) || return 0
    sleep 0.1
  done
}

# proc_log_tail FILE...: the last 40 lines of each non-empty FILE, on stderr.
proc_log_tail() {
  local f
  for f in "$@"; do
    if [[ -s $f ]]; then
      printf -- '----- last 40 lines of %s -----\n' "$f" >&2
      tail -n 40 "$f" >&2
    fi
  done
}

# proc_logs LINES FOLLOW FILE...: tail the existing files (-F when FOLLOW is 1).
proc_logs() {
  local lines=$1 follow=$2 existing=() f
  shift 2
  for f in "$@"; do [[ -f $f ]] && existing+=("$f"); done
  ((${#existing[@]})) || die "no log files yet under $LOG_DIR"
  if ((follow)); then
    exec tail -n "$lines" -F "${existing[@]}"
  fi
  tail -n "$lines" "${existing[@]}"
}
