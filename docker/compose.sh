#!/usr/bin/env bash
# Runs a lab's compose profile with whatever this machine has:
#   1. `docker compose` (v2 plugin) talking to a Docker engine,
#   2. `docker-compose` (v1.29) talking to a Docker engine or to $DOCKER_HOST,
#   3. podman: its Docker-API socket (started here, stopped on exit) + docker-compose 1.29
#      or the v2 plugin. podman-compose 1.0 has no --profile option, so it is not used.
#
#   bash docker/compose.sh up N        build, start lab N's stack, wait until healthy, print URLs
#   bash docker/compose.sh down N      stop it and remove its containers, network and volumes
#   bash docker/compose.sh build N     build lab N's images only
#   bash docker/compose.sh wait N      wait until every container of the stack is healthy
#   bash docker/compose.sh locust N    one headless Locust run (LOCUST_RUN_TIME, default 20s)
#   bash docker/compose.sh exec N SERVICE CMD...   run a command in a running service
#   bash docker/compose.sh logs N | ps N | config N | engine
#
# Knobs (environment): BASE_IMAGE (default python:3.11-slim; on a podman machine without a
# registry, localhost/debian-base:bookworm when that image exists), COURSE_STANDINS=1|0 (build
# redis/minio/tf-serving stand-ins from the base image, docker/compose.standins.yaml; default on
# when BASE_IMAGE is a localhost/ image), COMPOSE_PROJECT_NAME (default course),
# WITH_METRICS=1 (adds the Prometheus profile), NO_BUILD=1, WAIT_TIMEOUT (s, default 300),
# LOCUST_USERS, LOCUST_SPAWN_RATE, LOCUST_RUN_TIME, LOCUST_REPORTS (default artifacts/load).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
say() { echo ">> $*" >&2; }

cmd=${1:-}
lab=${2:-}
[ -n "$cmd" ] || usage
if [ "$cmd" != engine ]; then
  [[ "$lab" =~ ^[1-5]$ ]] || { echo "lab number 1-5 expected, got '${lab}'" >&2; usage; }
fi
profile="lab${lab}"
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-course}

# --- engine detection ---------------------------------------------------------------------
ENGINE=""         # docker | podman
COMPOSE=()
OWN_SERVICE_PID=""

cleanup() {
  [ -n "${TICKER_PID:-}" ] && kill "$TICKER_PID" 2>/dev/null || true
  if [ -n "$OWN_SERVICE_PID" ]; then
    kill "$OWN_SERVICE_PID" 2>/dev/null || true
    wait "$OWN_SERVICE_PID" 2>/dev/null || true
    rm -f "${OWN_SOCKET:-}"
  fi
}
trap cleanup EXIT

socket_answers() { curl -fsS --max-time 3 --unix-socket "$1" http://d/_ping >/dev/null 2>&1; }

compose_client() {
  if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
  elif command -v docker-compose >/dev/null; then
    COMPOSE=(docker-compose)
  else
    echo "no compose client: install the docker compose v2 plugin or docker-compose" >&2
    exit 3
  fi
}

detect() {
  if [ -n "${DOCKER_HOST:-}" ] || { command -v docker >/dev/null && docker info >/dev/null 2>&1; }; then
    compose_client
    ENGINE=docker
    # A DOCKER_HOST pointing at podman's socket still needs podman's health ticker.
    if [ -n "${DOCKER_HOST:-}" ] && command -v podman >/dev/null \
      && curl -fsS --max-time 3 --unix-socket "${DOCKER_HOST#unix://}" http://d/version 2>/dev/null \
      | grep -qi podman; then
      ENGINE=podman
    fi
    return
  fi
  if command -v podman >/dev/null; then
    compose_client
    ENGINE=podman
    if socket_answers /tmp/podman.sock; then
      export DOCKER_HOST=unix:///tmp/podman.sock
    else
      # A socket of our own: parallel runs (tests) never stop each other's service.
      OWN_SOCKET="${TMPDIR:-/tmp}/course-podman-$$.sock"
      podman system service -t 0 "unix://$OWN_SOCKET" >/dev/null 2>&1 &
      OWN_SERVICE_PID=$!
      for _ in $(seq 50); do socket_answers "$OWN_SOCKET" && break; sleep 0.2; done
      socket_answers "$OWN_SOCKET" || { echo "podman system service did not start" >&2; exit 3; }
      export DOCKER_HOST="unix://$OWN_SOCKET"
    fi
    return
  fi
  echo "no container engine: install Docker (with compose) or podman (bash ../shared/tools/podman-setup.sh)" >&2
  exit 3
}

detect

if [ -z "${BASE_IMAGE:-}" ] && [ "$ENGINE" = podman ] \
  && podman image exists localhost/debian-base:bookworm \
  && ! podman image exists docker.io/library/python:3.11-slim; then
  export BASE_IMAGE=localhost/debian-base:bookworm
fi
if [ -z "${COURSE_STANDINS:-}" ]; then
  [[ "${BASE_IMAGE:-}" == localhost/* ]] && COURSE_STANDINS=1 || COURSE_STANDINS=0
fi
# Locust writes its reports into the mounted artifacts/load as the calling user.
HOST_UID=$(id -u)
HOST_GID=$(id -g)
export HOST_UID HOST_GID
mkdir -p "${LOCUST_REPORTS:-artifacts/load}"

FILES=(-f compose.yaml)
[ "$COURSE_STANDINS" = 1 ] && FILES+=(-f docker/compose.standins.yaml)
PROFILES=(--profile "$profile")
[ "${WITH_METRICS:-0}" = 1 ] && PROFILES+=(--profile metrics)
dc() { "${COMPOSE[@]}" "${FILES[@]}" "${PROFILES[@]}" "$@"; }

# --- health ---------------------------------------------------------------------------------
# Podman runs HEALTHCHECKs from systemd timers; without systemd (containers, CI sandboxes) no
# check ever runs and `depends_on: service_healthy` waits forever. This ticker runs them.
start_ticker() {
  [ "$ENGINE" = podman ] || return 0
  (
    while true; do
      for c in $(podman ps -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
        --filter health=starting --filter health=unhealthy 2>/dev/null); do
        podman healthcheck run "$c" >/dev/null 2>&1 || true
      done
      sleep 2
    done
  ) &
  TICKER_PID=$!
}

engine_cli() { if [ "$ENGINE" = podman ]; then podman "$@"; else docker "$@"; fi; }
inspect() { engine_cli inspect "$@"; }

wait_healthy() {
  local timeout=${WAIT_TIMEOUT:-300} start ids state pending bad
  start=$(date +%s)
  while true; do
    ids=$(dc ps -q 2>/dev/null || true)
    pending=0
    bad=""
    for id in $ids; do
      # "<name> <status> <health or -> <exit code>"
      state=$(inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{with .State.Health.Status}}{{.}}{{else}}-{{end}}{{else}}-{{end}} {{.State.ExitCode}}' "$id")
      read -r name status health code <<<"$state"
      case "$status" in
        running) [ "$health" = healthy ] || [ "$health" = - ] || pending=1 ;;
        exited) [ "$code" = 0 ] || bad+=" ${name#/}(exit $code)" ;;  # one-shot jobs exit 0
        *) pending=1 ;;
      esac
    done
    if [ -n "$bad" ]; then echo "containers failed:$bad" >&2; return 1; fi
    if [ -n "$ids" ] && [ "$pending" = 0 ]; then return 0; fi
    if (($(date +%s) - start > timeout)); then
      echo "stack of $profile not healthy after ${timeout}s" >&2
      dc ps >&2 || true
      return 1
    fi
    sleep 2
  done
}

# Lab 3's image needs the CPU torch wheel. On a machine that cannot reach PyTorch's CPU index,
# copy it from pip's configured find-links folder into the gitignored docker/wheels/ (the
# Dockerfile installs from there when it finds one), instead of by hand.
stage_torch_wheel() {
  [ "$lab" = 3 ] || return 0
  ls docker/wheels/torch-*.whl >/dev/null 2>&1 && return 0
  local version arch links dir whl
  version=$(sed -n 's/^torch==//p' constraints.txt)
  arch=$(uname -m); [ "$arch" = arm64 ] && arch=aarch64
  links="${PIP_FIND_LINKS:-} $(python3 -m pip config get global.find-links 2>/dev/null || true)"
  for dir in $links; do
    dir=${dir#file://}
    for whl in "$dir"/torch-"$version"+cpu-cp311-cp311-*_"$arch".whl; do
      [ -f "$whl" ] || continue
      mkdir -p docker/wheels && cp "$whl" docker/wheels/
      say "copied $(basename "$whl") from pip's find-links ($dir) into docker/wheels/ for lab 3's image"
      return 0
    done
  done
}

# --- commands -------------------------------------------------------------------------------
case "$cmd" in
  engine)
    echo "engine=$ENGINE compose=${COMPOSE[*]} base_image=${BASE_IMAGE:-default} standins=$COURSE_STANDINS"
    ;;
  build)
    say "building $profile with ${COMPOSE[*]} on $ENGINE (BASE_IMAGE=${BASE_IMAGE:-default}, stand-ins=$COURSE_STANDINS)"
    stage_torch_wheel
    dc build
    ;;
  up)
    say "starting $profile with ${COMPOSE[*]} on $ENGINE (BASE_IMAGE=${BASE_IMAGE:-default}, stand-ins=$COURSE_STANDINS)"
    stage_torch_wheel
    start_ticker
    # NO_BUILD=1: use the images as they are (the smoke test builds and times them first).
    if [ "${NO_BUILD:-0}" = 1 ]; then dc up -d; else dc up -d --build; fi
    wait_healthy
    dc ps
    say "$profile is up. Locust web UI: http://127.0.0.1:${LOCUST_PORT:-8089} (unless LOCUST_HEADLESS=1); stop with: make down-$lab"
    ;;
  wait)
    start_ticker
    wait_healthy
    ;;
  locust)
    # The profile's Locust service recreated headless, once; its exit code is Locust's (non-zero
    # on any failed request). `compose run` is not used: podman's API has no container links.
    svc="lab${lab}-locust"
    export LOCUST_HEADLESS=1 LOCUST_RUN_TIME=${LOCUST_RUN_TIME:-20s}
    dc up -d --no-deps --force-recreate "$svc"
    id=$(dc ps -q "$svc")
    rc=$(engine_cli wait "$id" | tail -1)
    dc logs --no-color --tail 40 "$svc"
    say "Locust exited $rc; reports in ${LOCUST_REPORTS:-artifacts/load}/lab${lab}_stats.csv and lab${lab}.html"
    exit "$rc"
    ;;
  down)
    dc down --volumes --remove-orphans
    ;;
  exec)
    # One command in a running service of the stack: compose.sh exec N SERVICE CMD...
    shift 2
    dc exec -T "$@"
    ;;
  logs) dc logs --no-color --tail "${LOG_LINES:-200}" ;;
  ps) dc ps ;;
  config) dc config ;;
  *) usage ;;
esac
