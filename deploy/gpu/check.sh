#!/usr/bin/env bash
# GPU check for operators: the engine against a bare ONNX Runtime CUDA loop on the same model files.
#
#   deploy/gpu/check.sh [--cpu] [--small] [--out DIR]
#
# Default (a host with an NVIDIA GPU, its driver and the CUDA 13 / cuDNN libraries ONNX Runtime 1.31 needs):
#   builds the benchmarks with -p:OnnxRuntimeGpu=true, writes the full-size SD 1.5 graph in fp16 (generated weights:
#   real shapes and cost, no real pictures), runs `compare --provider cuda` at 512x512 and 50 Euler steps, and prints
#   s/step and s/image for the engine and the bare loop, their ratio, and each one's peak GPU memory (nvidia-smi).
#   --cpu    the same path on the CPU provider (no GPU needed; no GPU memory figures)
#   --small  the tiny demo model (optimum fp16) instead of the full-size one: checks the path in about a minute
#   --out    where the build, the model and the logs go. Default: ~/.cache/orleans-diffusion/gpu-check
# Environment: NO_BUILD=1 runs the benchmarks already built in CONFIGURATION (default Release) in the source tree;
# RUNS, IMAGES, STEPS, SIZE, WARMUP (images; default 3 s of them, at least one) override the compare settings;
# DOTNET (default dotnet).
# Exit status: 0 with the figures printed; 2 no usable GPU (without --cpu) or bad arguments; 1 a step failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CPU=0
SMALL=0
OUT="${HOME}/.cache/orleans-diffusion/gpu-check"
DOTNET="${DOTNET:-dotnet}"

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --cpu) CPU=1 ;;
    --small) SMALL=1 ;;
    --out) [[ $# -ge 2 ]] || { echo "gpu-check: --out needs a folder" >&2; exit 2; }; OUT="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu-check: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

say() { echo "gpu-check: $*"; }
fail() { echo "gpu-check: FAILED: $*" >&2; exit 1; }
STARTED=$SECONDS

if [[ $CPU -eq 1 ]]; then
  PROVIDER=cpu
else
  PROVIDER=cuda
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu-check: nvidia-smi not found: this check needs an NVIDIA GPU with its driver installed (or --cpu to run the same path on the CPU)." >&2
    exit 2
  fi
  if ! GPUS="$(nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader 2>&1)" || [[ -z "$GPUS" ]]; then
    echo "gpu-check: nvidia-smi found no usable GPU: ${GPUS:-no output} (or run with --cpu)." >&2
    exit 2
  fi
  say "GPUs (index, name, memory, driver):"
  echo "$GPUS" | sed 's/^/  /'
fi

# Interleaved runs: engine, bare, then bare, engine; each child warms up on one image first.
RUNS="${RUNS:-$([[ $SMALL -eq 1 ]] && echo 1 || echo 2)}"
IMAGES="${IMAGES:-2}"
STEPS="${STEPS:-50}"
SIZE="${SIZE:-512}"

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
LOG="$OUT/compare-$PROVIDER$([[ $SMALL -eq 1 ]] && echo -small).log"

# Build: one ONNX Runtime flavour per output, so the CUDA build gets its own artifacts folder and leaves the
# source tree's bin/ and obj/ (the CPU package) alone.
if [[ "${NO_BUILD:-}" == "1" ]]; then
  CONFIGURATION="${CONFIGURATION:-Release}"
  BENCH="$ROOT/tests/OrleansDiffusion.Benchmarks/bin/$CONFIGURATION/net10.0/OrleansDiffusion.Benchmarks.dll"
  SILO="$ROOT/silo/bin/$CONFIGURATION/net10.0/OrleansDiffusion.Silo.dll"
else
  FLAGS=()
  ARTIFACTS="$OUT/build-$PROVIDER"
  [[ $CPU -eq 0 ]] && FLAGS+=(-p:OnnxRuntimeGpu=true)
  PROJECTS=(tests/OrleansDiffusion.Benchmarks)
  [[ $SMALL -eq 0 ]] && PROJECTS+=(silo)
  for project in "${PROJECTS[@]}"; do
    say "building $project (Release${FLAGS[*]:+, ${FLAGS[*]}})"
    "$DOTNET" build "$ROOT/$project" -c Release "${FLAGS[@]}" --artifacts-path "$ARTIFACTS" -v quiet -nologo >"$OUT/build.log" 2>&1 \
      || { tail -30 "$OUT/build.log" >&2; fail "the build of $project failed (log: $OUT/build.log)"; }
  done
  BENCH="$ARTIFACTS/bin/OrleansDiffusion.Benchmarks/release/OrleansDiffusion.Benchmarks.dll"
  SILO="$ARTIFACTS/bin/OrleansDiffusion.Silo/release/OrleansDiffusion.Silo.dll"
fi
[[ -f "$BENCH" ]] || fail "no benchmarks build at $BENCH"

# The model: the tiny demo model is written by compare itself; the full-size SD 1.5 fp16 graph once into OUT.
if [[ $SMALL -eq 1 ]]; then
  MODEL_ARGS=(--flavor optimum-fp16)
  MODEL_NAME="tiny demo model, optimum fp16"
else
  MODEL="$OUT/sd15-optimum-fp16"
  if [[ ! -f "$MODEL/model_index.json" ]]; then
    [[ -f "$SILO" ]] || fail "no silo build at $SILO (it writes the full-size model)"
    say "writing the full-size SD 1.5 fp16 model to $MODEL (generated weights, about 2 GB)"
    rm -rf "$MODEL"
    "$DOTNET" "$SILO" demo-model --architecture sd15 --flavor optimum-fp16 --out "$MODEL" >"$OUT/model.log" 2>&1 \
      || { tail -20 "$OUT/model.log" >&2; fail "writing the model failed (log: $OUT/model.log)"; }
  fi
  MODEL_ARGS=(--model "$MODEL")
  MODEL_NAME="full-size SD 1.5 graph, optimum fp16"
fi

# GPU memory: every half second, each compare child's own device memory (nvidia-smi's compute apps), by contestant.
POLLER=""
MEMORY="$OUT/gpu-memory.tsv"
: >"$MEMORY"
stop_poller() {
  if [[ -n "$POLLER" ]]; then
    kill "$POLLER" 2>/dev/null || true
    wait "$POLLER" 2>/dev/null || true
    POLLER=""
  fi
}
trap stop_poller EXIT
if [[ $CPU -eq 0 ]]; then
  (
    exec 2>/dev/null
    while true; do
      nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits | while IFS=', ' read -r pid used; do
        contestant="$(tr '\0' ' ' <"/proc/$pid/cmdline" | sed -n 's/.*--contestant \([a-z]*\).*/\1/p')"
        [[ -n "$contestant" ]] && printf '%s\t%s\n' "$contestant" "$used" >>"$MEMORY"
      done
      sleep 0.5
    done
  ) &
  POLLER=$!
fi

say "compare: $MODEL_NAME, provider $PROVIDER, ${SIZE}x${SIZE}, $STEPS steps, $RUNS run(s) of $IMAGES image(s) per contestant"
COMPARE=(compare "${MODEL_ARGS[@]}" --provider "$PROVIDER" --size "$SIZE" --steps "$STEPS" --runs "$RUNS" --images "$IMAGES" --threads 1 --png on)
[[ -n "${WARMUP:-}" ]] && COMPARE+=(--warmup "$WARMUP")
"$DOTNET" "$BENCH" "${COMPARE[@]}" 2>&1 | tee "$LOG" || fail "compare failed (log: $LOG)"
stop_poller
grep -q '^compare: ' "$LOG" || fail "compare printed no result (log: $LOG)"
grep -q '^compare: CUDA is unavailable' "$LOG" && fail "$(grep '^compare: ' "$LOG")"

# The median rows of compare's table (| png | contestant | ms/image | ms/step | ... | load ms | RSS MiB |), its columns
# found by their headers.
row() {
  awk -F'|' -v who="$1" '
    $3 ~ /^ *contestant *$/ { for (i = 2; i < NF; i++) { h = $i; gsub(/^ +| +$/, "", h); col[h] = i } }
    $2 ~ /on/ && $3 ~ "^ *"who" *$" { print $col["ms/image"], $col["ms/step"], $col["load ms"], $col["RSS MiB"] }' "$LOG" | tail -1
}
read -r E_IMAGE E_STEP E_LOAD E_RSS <<<"$(row engine)"
read -r B_IMAGE B_STEP B_LOAD B_RSS <<<"$(row bare)"
[[ -n "${E_IMAGE:-}" && -n "${B_IMAGE:-}" ]] || fail "could not read compare's table (log: $LOG)"
peak() { awk -F'\t' -v who="$1" '$1 == who && $2 + 0 > max { max = $2 + 0 } END { print max + 0 }' "$MEMORY"; }

echo
say "result: $MODEL_NAME, $PROVIDER, ${SIZE}x${SIZE}, $STEPS Euler steps, PNG encoded, medians"
awk -v ei="$E_IMAGE" -v es="$E_STEP" -v bi="$B_IMAGE" -v bs="$B_STEP" 'BEGIN {
  printf "gpu-check: engine  %8.4f s/step  %8.3f s/image\n", es / 1000, ei / 1000
  printf "gpu-check: bare    %8.4f s/step  %8.3f s/image\n", bs / 1000, bi / 1000
  printf "gpu-check: engine/bare  x%.3f per step  x%.3f per image\n", es / bs, ei / bi
}'
say "load: engine ${E_LOAD} ms, bare ${B_LOAD} ms; process RSS: engine ${E_RSS} MiB, bare ${B_RSS} MiB"
if [[ $CPU -eq 0 ]]; then
  say "GPU memory (peak per process, nvidia-smi): engine $(peak engine) MiB, bare $(peak bare) MiB"
else
  say "GPU memory: not measured (--cpu)"
fi
say "done in $((SECONDS - STARTED)) s; full output in $LOG"
