# An Apache Kafka 4 broker (KRaft) run from the Maven Central jars, for scripts/stack.sh (plain
# listener) and scripts/kafka-sasl.sh (SASL_SSL listener); sourced after scripts/lib.sh and
# scripts/lib/proc.sh, not run.
#
# The sourcing script sets SCRIPT_DIR, CACHE_DIR and LOG_DIR. Both brokers share one classpath,
# $CACHE_DIR/kafka-libs, made from scripts/kafka/pom.xml.
# shellcheck shell=bash

KAFKA_POM=$SCRIPT_DIR/kafka/pom.xml
KAFKA_LIBS=$CACHE_DIR/kafka-libs
KAFKA_LOG4J=$SCRIPT_DIR/kafka/log4j2.yaml             # the broker's (writes ${kafka.logs.dir}/kafka.log)
KAFKA_TOOLS_LOG4J=$SCRIPT_DIR/kafka/tools-log4j2.yaml # StorageTool, TopicCommand

# True when $KAFKA_LIBS holds the classpath of the pom as it is now.
kafka_libs_current() {
  local marker=$KAFKA_LIBS/.pom.sha256
  [[ -f $marker && $(<"$marker") == "$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)" ]]
}

# Fetches the broker's classpath from Maven Central into $KAFKA_LIBS unless it is current.
# Under its own lock (fd 7), so both scripts may call it at once.
kafka_ensure_libs() {
  kafka_libs_current && return 0
  mkdir -p "$CACHE_DIR" "$LOG_DIR"
  exec 7>"$CACHE_DIR/.kafka-libs.lock"
  flock -w 900 7 || die "could not lock $CACHE_DIR/.kafka-libs.lock (another script still fetching the jars?)"
  if kafka_libs_current; then # fetched by the holder of the lock meanwhile
    exec 7>&-
    return 0
  fi
  local want t0 tmp
  want=$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)
  need_cmd mvn "install Maven (Debian package maven)"
  t0=$(now)
  say "kafka: fetching the broker classpath from Maven Central into $KAFKA_LIBS"
  tmp=$(mktemp -d "$CACHE_DIR/kafka-libs.tmp.XXXXXX")
  if ! mvn -q -B -f "$KAFKA_POM" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$tmp" >"$LOG_DIR/mvn-kafka-libs.log" 2>&1; then
    tail -n 40 "$LOG_DIR/mvn-kafka-libs.log" >&2
    rm -rf "$tmp"
    die "mvn dependency:copy-dependencies failed (log: $LOG_DIR/mvn-kafka-libs.log)"
  fi
  printf '%s\n' "$want" >"$tmp/.pom.sha256"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  exec 7>&-
  say "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars in $(elapsed "$t0")s"
}

java_major() {
  java -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit }'
}

# Kafka 4 needs Java 17 or newer.
kafka_need_java() {
  need_cmd java "install a JDK 17+ (Debian package openjdk-17-jdk-headless)"
  local major
  major=$(java_major)
  ((major >= 17)) || die "Kafka 4 needs Java 17 or newer, found $major"
}

# kafka_java MAIN ARGS...: one of Kafka's tools (StorageTool, ...) from the broker's classpath.
kafka_java() {
  local main=$1
  shift
  java -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile="$KAFKA_TOOLS_LOG4J" "$main" "$@"
}

# kafka_format LABEL DATA_DIR CONFIG OUT_FILE NOTE [FORMAT_ARGS...]: formats the KRaft storage
# with a new cluster id (or $KAFKA_CLUSTER_ID) unless DATA_DIR is formatted already. Messages start with "LABEL: " when
# LABEL is not empty; NOTE is appended to the "formatting" line.
kafka_format() {
  local label=${1:+$1: } data=$2 config=$3 out=$4 note=$5 id
  shift 5
  [[ -f $data/meta.properties ]] && return 0
  rm -rf "$data"
  mkdir -p "$data" "$(dirname "$out")"
  # The nodes of one cluster share an id (KAFKA_CLUSTER_ID); a lone broker makes its own.
  id=${KAFKA_CLUSTER_ID:-}
  [[ -n $id ]] || id=$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$out") ||
    die "${label}StorageTool random-uuid failed (see $out)"
  say "${label}formatting $data (cluster id $id$note)"
  if ! kafka_java kafka.tools.StorageTool format -t "$id" -c "$config" "$@" >>"$out" 2>&1; then
    tail -n 20 "$out" >&2
    rm -rf "$data"
    die "${label}StorageTool format failed"
  fi
}

# kafka_spawn NAME CONFIG LOG_DIR OUT_FILE HEAP_OPTS [JVM_OPTS...]: starts the broker detached
# (proc_spawn); its log4j output goes to LOG_DIR/kafka.log, the JVM's own to OUT_FILE.
kafka_spawn() {
  local name=$1 config=$2 logs=$3 out=$4 heap_opts=$5
  shift 5
  local -a heap jvm
  read -r -a heap <<<"$heap_opts"
  jvm=(-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 "$@" -XX:+ExplicitGCInvokesConcurrent
    -Djava.awt.headless=true -Dkafka.logs.dir="$logs" -Dlog4j2.configurationFile="$KAFKA_LOG4J")
  proc_spawn "$name" "$out" java "${heap[@]}" "${jvm[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$config"
}

# Byte size of a file (0 if missing): a start records its log's size, then waits for the
# "started" line after that offset.
file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# kafka_started LOG OFFSET: the broker logged that it started after OFFSET (from the start of the
# file if it has been truncated since). The ports open a little before the broker has caught up
# with the metadata log.
kafka_started() {
  local log=$1 offset=$2
  (($(file_size "$log") >= offset)) || offset=0
  tail -c "+$((offset + 1))" "$log" 2>/dev/null | grep -q 'Kafka Server started'
}
