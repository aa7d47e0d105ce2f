#!/usr/bin/env bash
# A local multi-process cluster: Azurite, two silos (Azure Table membership, Azure grain state, Azure Blob images)
# and the HTTP API as an Orleans gateway client on http://localhost:8080. It supervises them: a process that exits is
# reported and the others keep running (RESTART=1 starts it again), so a silo can be killed and watched coming back.
# Ctrl+C or SIGTERM stops exactly the processes this script started, by their recorded PIDs (a second one kills them).
#
#   deploy/local/run-cluster.sh            # build once (Release), then run the built dlls
#   NO_BUILD=1 deploy/local/run-cluster.sh # reuse the last build
#   RESTART=1 deploy/local/run-cluster.sh  # restart a process that exits (after RESTART_DELAY seconds, default 2)
#   kill -9 "$(awk '$2 == "silo-2" {print $1}' .local-cluster/pids)"   # a silo dies; the rest keep serving
#
# Extra silo settings can be passed through SILO_ARGS, e.g.
#   SILO_ARGS="--Diffusion:Models:0:Id=sd15 --Diffusion:Models:0:Path=/models/sd15" deploy/local/run-cluster.sh
# The ports below, RUN_DIR and CONFIGURATION (Release) can be overridden from the environment.
set -euo pipefail

if ((BASH_VERSINFO[0] < 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] < 1))); then
  echo "run-cluster: needs bash 5.1 or later (wait -n -p); this is $BASH_VERSION" >&2
  exit 2
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

# Ports (deploy/docker/compose.yaml publishes the same ones on the host; a test checks they agree).
AZURITE_BLOB_PORT="${AZURITE_BLOB_PORT:-10000}"
AZURITE_QUEUE_PORT="${AZURITE_QUEUE_PORT:-10001}"
AZURITE_TABLE_PORT="${AZURITE_TABLE_PORT:-10002}"
API_HTTP_PORT="${API_HTTP_PORT:-8080}"
# KEDA's external scaler (gRPC, h2c) on the API: poke it with grpcurl -plaintext -proto client-api/Scaling/externalscaler.proto.
API_SCALER_PORT="${API_SCALER_PORT:-8083}"
SILO1_HTTP_PORT="${SILO1_HTTP_PORT:-8081}"
SILO2_HTTP_PORT="${SILO2_HTTP_PORT:-8082}"
SILO1_SILO_PORT="${SILO1_SILO_PORT:-11111}"
SILO2_SILO_PORT="${SILO2_SILO_PORT:-11112}"
SILO1_GATEWAY_PORT="${SILO1_GATEWAY_PORT:-30000}"
SILO2_GATEWAY_PORT="${SILO2_GATEWAY_PORT:-30001}"

RUN_DIR="${RUN_DIR:-$ROOT/.local-cluster}"
CONFIGURATION="${CONFIGURATION:-Release}"
RESTART="${RESTART:-}"
RESTART_DELAY="${RESTART_DELAY:-2}"
ACCOUNT_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
CONNECTION="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:${AZURITE_BLOB_PORT}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:${AZURITE_QUEUE_PORT}/devstoreaccount1;TableEndpoint=http://127.0.0.1:${AZURITE_TABLE_PORT}/devstoreaccount1;"

# The processes by name, in start order; the command of each (shell-quoted, to start it again) and its running PID.
NAMES=()
declare -A COMMAND_OF=() PID_OF=()
STOPPING=""
FORCE=""

stop_all() {
  STOPPING=1
  trap - EXIT
  # A second Ctrl+C or SIGTERM while stopping kills what is left at once.
  trap 'FORCE=1' INT TERM
  local i name pid
  for ((i = ${#NAMES[@]} - 1; i >= 0; i--)); do
    # Reverse order, one at a time: API first, then the silos (each drains while storage is still up), Azurite last.
    name="${NAMES[i]}"
    pid="${PID_OF[$name]:-}"
    [[ -n "$pid" ]] || continue
    echo "run-cluster: stopping $name (pid $pid)" >&2
    kill -TERM "$pid" 2>/dev/null || continue
    # Silos drain running work for up to Diffusion:DrainTimeout (30 s) before they exit.
    for _ in $(seq 1 60); do
      [[ -z "$FORCE" ]] || break
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$RUN_DIR/pids"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# write_pids: "PID NAME" per running process, in $RUN_DIR/pids (replaced whole, so a reader never sees half of it).
write_pids() {
  local name
  for name in "${NAMES[@]}"; do
    if [[ -n "${PID_OF[$name]:-}" ]]; then
      echo "${PID_OF[$name]} $name"
    fi
  done >"$RUN_DIR/pids.next"
  mv -f "$RUN_DIR/pids.next" "$RUN_DIR/pids"
}

# launch NAME: runs NAME's command in the background, its output appended to $RUN_DIR/NAME.log, and records its PID.
# `exec` in the subshell makes the recorded PID the program's own, so only it is stopped later.
launch() {
  local name="$1"
  ( eval "exec ${COMMAND_OF[$name]}" >>"$RUN_DIR/$name.log" 2>&1 ) &
  PID_OF[$name]=$!
  write_pids
  echo "run-cluster: $name pid $! (log $RUN_DIR/$name.log)" >&2
}

# start NAME COMMAND...: remembers COMMAND under NAME (to start it again) and launches it with a fresh log.
start() {
  local name="$1"
  shift
  NAMES+=("$name")
  printf -v "COMMAND_OF[$name]" '%q ' "$@"
  : >"$RUN_DIR/$name.log"
  launch "$name"
}

# wait_http NAME URL [SECONDS]: waits for NAME to answer 2xx on URL.
wait_http() {
  local name="$1" url="$2" seconds="${3:-120}"
  local pid="${PID_OF[$name]}"
  for _ in $(seq 1 "$seconds"); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "run-cluster: $name exited; see $RUN_DIR/$name.log" >&2
      return 1
    fi
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then
      echo "run-cluster: $name ready ($url)" >&2
      return 0
    fi
    sleep 1
  done
  echo "run-cluster: $name not ready after ${seconds}s; see $RUN_DIR/$name.log" >&2
  return 1
}

# supervise: waits for processes to exit and reports each; the others keep running. With RESTART=1 an exited process
# is started again with the same command. Returns when none is left running.
supervise() {
  local pid status name exited
  while true; do
    exited=""
    status=0
    # Returns as soon as one child exits; a Ctrl+C or SIGTERM interrupts it and runs its trap at once.
    wait -n -p exited || status=$?
    [[ -z "$STOPPING" ]] || return 0
    if [[ -z "$exited" ]]; then
      echo "run-cluster: no process left running" >&2
      return 0
    fi
    for name in "${NAMES[@]}"; do
      [[ "${PID_OF[$name]:-}" == "$exited" ]] || continue
      PID_OF[$name]=""
      write_pids
      if [[ -n "$RESTART" ]]; then
        echo "run-cluster: $name (pid $exited) exited with status $status; restarting it in ${RESTART_DELAY}s" >&2
        sleep "$RESTART_DELAY"
        launch "$name"
      else
        echo "run-cluster: $name (pid $exited) exited with status $status; the others keep running (RESTART=1 restarts it)" >&2
      fi
    done
  done
}

mkdir -p "$RUN_DIR/azurite"
: >"$RUN_DIR/pids"

if [[ ! -f tests/node_modules/azurite/dist/src/azurite.js ]]; then
  npm ci --prefix tests --no-audit --no-fund
fi

if [[ -z "${NO_BUILD:-}" ]]; then
  # One build up front: three `dotnet run` processes would otherwise build the same projects in parallel.
  dotnet build silo/OrleansDiffusion.Silo.csproj -c "$CONFIGURATION"
  dotnet build client-api/OrleansDiffusion.Api.csproj -c "$CONFIGURATION"
fi
SILO_DLL="$ROOT/silo/bin/$CONFIGURATION/net10.0/OrleansDiffusion.Silo.dll"
API_DLL="$ROOT/client-api/bin/$CONFIGURATION/net10.0/OrleansDiffusion.Api.dll"

start azurite node tests/node_modules/azurite/dist/src/azurite.js --silent --disableTelemetry \
  --location "$RUN_DIR/azurite" \
  --blobHost 127.0.0.1 --blobPort "$AZURITE_BLOB_PORT" \
  --queueHost 127.0.0.1 --queuePort "$AZURITE_QUEUE_PORT" \
  --tableHost 127.0.0.1 --tablePort "$AZURITE_TABLE_PORT" \
  --skipApiVersionCheck --loose
for _ in $(seq 1 30); do
  (exec 3<>"/dev/tcp/127.0.0.1/$AZURITE_TABLE_PORT") 2>/dev/null && break
  sleep 1
done

# silo_args SILO_PORT GATEWAY_PORT: the cluster settings both silos share, with their own ports.
silo_args() {
  printf '%s\n' \
    --Diffusion:Cluster:Clustering=AzureTable \
    --Diffusion:Cluster:Storage=AzureStorage \
    "--Diffusion:Cluster:ConnectionString=$CONNECTION" \
    "--Diffusion:Cluster:SiloPort=$1" \
    "--Diffusion:Cluster:GatewayPort=$2" \
    --Diffusion:ImageStore:Provider=AzureBlob \
    "--Diffusion:ImageStore:ConnectionString=$CONNECTION" \
    "--Diffusion:DemoModelDirectory=$RUN_DIR/demo-model"
}
mapfile -t SILO1_ARGS < <(silo_args "$SILO1_SILO_PORT" "$SILO1_GATEWAY_PORT")
mapfile -t SILO2_ARGS < <(silo_args "$SILO2_SILO_PORT" "$SILO2_GATEWAY_PORT")
# shellcheck disable=SC2206 # SILO_ARGS is split on purpose
EXTRA=(${SILO_ARGS:-})

# The first silo writes the demo model (when no model is configured) before the second starts.
start silo-1 dotnet "$SILO_DLL" --contentRoot "$(dirname "$SILO_DLL")" --urls "http://127.0.0.1:$SILO1_HTTP_PORT" "${SILO1_ARGS[@]}" "${EXTRA[@]}"
wait_http silo-1 "http://127.0.0.1:$SILO1_HTTP_PORT/health/ready"
start silo-2 dotnet "$SILO_DLL" --contentRoot "$(dirname "$SILO_DLL")" --urls "http://127.0.0.1:$SILO2_HTTP_PORT" "${SILO2_ARGS[@]}" "${EXTRA[@]}"
wait_http silo-2 "http://127.0.0.1:$SILO2_HTTP_PORT/health/ready"

# The API joins as a gateway client: it finds the silos' gateways in the same membership table.
start api dotnet "$API_DLL" --contentRoot "$(dirname "$API_DLL")" --urls "http://localhost:$API_HTTP_PORT" \
  --Diffusion:Api:Mode=Client \
  --Diffusion:Scaler:Url=http://localhost:$API_SCALER_PORT \
  --Diffusion:Cluster:Clustering=AzureTable \
  "--Diffusion:Cluster:ConnectionString=$CONNECTION" \
  --Diffusion:ImageStore:Provider=AzureBlob \
  "--Diffusion:ImageStore:ConnectionString=$CONNECTION"
wait_http api "http://localhost:$API_HTTP_PORT/health/ready"

cat >&2 <<INFO
run-cluster: up. API http://localhost:$API_HTTP_PORT  KEDA scaler (h2c) localhost:$API_SCALER_PORT  silos http://127.0.0.1:$SILO1_HTTP_PORT/dashboard http://127.0.0.1:$SILO2_HTTP_PORT/dashboard
run-cluster: Ctrl+C (or SIGTERM) stops it; PIDs in $RUN_DIR/pids${RESTART:+; a process that exits is restarted}.
INFO

if [[ -n "${SMOKE:-}" ]]; then
  # SMOKE=1: one generation end to end, then stop.
  curl -fsS -X POST "http://localhost:$API_HTTP_PORT/v1/generations" -H 'content-type: application/json' \
    -d '{"prompt": "a lighthouse at dusk", "steps": 2, "width": 64, "height": 64, "seed": 1}'
  echo
  exit 0
fi

# Until Ctrl+C or SIGTERM (the EXIT trap then stops everything), or until no process is left.
supervise
