# Helpers shared by the scripts in scripts/ (sourced, not run). The servers' process supervision
# and the Kafka broker are in scripts/lib/proc.sh and scripts/lib/kafka.sh.
# The sourcing script sets LIB_NAME (the prefix of its messages) first.
# shellcheck shell=bash

abspath() {
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
  esac
}

die() {
  printf '%s: error: %s\n' "$LIB_NAME" "$*" >&2
  exit 1
}
say() { printf '%s: %s\n' "$LIB_NAME" "$*"; }

is_port() { [[ $1 =~ ^[0-9]+$ ]] && ((10#$1 > 0 && 10#$1 < 65536)); }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# shellcheck disable=SC2016 # $0 and $1 are expanded by the inner bash
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

need_cmd() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"; }

# Escapes a value for the right-hand side of a sed s|...|...| command.
sed_rhs() { printf '%s\n' "$1" | sed -e 's/[\\|&]/\\&/g'; }

# The help text of the running script ($SCRIPT_DIR/$0): its header comment, down to `set -euo`.
usage() {
  sed -n '2,/^set -euo/p' "$SCRIPT_DIR/$(basename "$0")" | sed -e '$d' -e 's/^# \{0,1\}//'
}

# Kafka's topic tool (list, delete, ...) against $KAFKA_BOOTSTRAP, from the jars in $KAFKA_LIBS
# (both set by `eval "$(bash scripts/stack.sh env)"`).
kafka_topics() {
  java -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile="$KAFKA_TOOLS_LOG4J" \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BOOTSTRAP" "$@"
}
