#!/usr/bin/env bash
# GPU figures for bench/RESULTS.md, in one run of at most 8 minutes on one CUDA machine:
#   1. training step of the paper configuration (ResNet-34, 60x750, batch 64) for vanilla and all, fp32
#      and bf16 (bf16 also with channels_last, and with torch.compile), reference vs efficient step
#                                                                            (bench/train_step.py)
#   2. scoring throughput: forward-only windows/s, fp32 and bf16             (bench/train_step.py --infer)
#   3. a short real training run (OC-softmax, all tasks, mini configuration) on the mini corpus features
#      with DDP (torchrun, one process on one GPU), then ssd.bin.infer on dev: wall time, utterances/s
# and prints one table (also written to OUT/table.md).
#
# Usage, from the repository root:
#   bench/gpu.sh [--dump DIR] [--out DIR] [--steps N] [--ddp-epochs N] [--ddp-timeout S]
#   bench/gpu.sh --dry-run [--out DIR]     # CPU, tiny sizes, synthetic features: checks the script itself
#   bench/gpu.sh --pack-dump SRC DST        # copy SRC/{train,dev} features to DST for carrying (below)
#
# --dump DIR holds the mini corpus features, DIR/train and DIR/dev, each with feats.scp, utt2num_frames,
# utt2label, utt2spk, utt2attack (default: egs/asvspoof2019_la/dump/lfcc if it has them; without
# features part 3 is skipped). The device machine cannot build the corpus, and the recipe's feats.scp
# holds absolute paths, so build the features here, pack them (a copy whose scp paths are relative to
# the repository root) and carry them, with wheels of what the device's Python lacks:
#   (cd egs/asvspoof2019_la && ./run.sh --stage 0 --stop-stage 2)
#   echo /.gpu/ >> .git/info/exclude
#   bench/gpu.sh --pack-dump egs/asvspoof2019_la/dump/lfcc .gpu     # about 50 MB for the mini corpus
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .gpu/whl kaldiio configargparse soundfile
#   device run: command "bash bench/gpu.sh --dump .gpu --out $OUT", carry [".gpu"]  (64 MiB in all)
# Wheels found in DUMP/whl or .whl are installed into a temporary folder on PYTHONPATH first.
set -euo pipefail

# -- options --------------------------------------------------------------------------------------------
dry_run=false       # CPU, tiny model and batches, synthetic features
dump=""             # mini corpus feature dump with train/ and dev/
out=bench/gpu_out   # logs, figures and table.md
steps=5             # timed training steps per path (paper configuration)
ddp_epochs=8        # epochs of the DDP training run (the mini profile's own number)
ddp_timeout=180     # seconds before the DDP training run is stopped (its partial figures are kept)
pack_src=""         # with pack_dst: only pack SRC/{train,dev} into DST and exit
pack_dst=""

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=true; shift ;;
    --dump) dump=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --ddp-epochs) ddp_epochs=$2; shift 2 ;;
    --ddp-timeout) ddp_timeout=$2; shift 2 ;;
    --pack-dump) pack_src=$2; pack_dst=$3; shift 3 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/gpu.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { echo "$(date '+%H:%M:%S') (gpu.sh:${BASH_LINENO[0]}) $*" >&2; }

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "${repo}"
mkdir -p "${out}"
out=$(cd "${out}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT
start_all=$(date +%s)

python=${PYTHON:-}
if [ -z "${python}" ]; then
  python=python3  # on the device machine: the image's CUDA build of torch
  [ -x tools/venv/bin/python ] && python=tools/venv/bin/python
fi
export PYTHONPATH="${repo}${PYTHONPATH:+:${PYTHONPATH}}"
export PYTHONUNBUFFERED=1

# Copies the train and dev feature dumps of SRC to DST, rewriting the arks so that feats.scp names them
# by paths relative to the repository root (the copy travels to another machine).
pack_dump() {
  "${python}" - "$1" "$2" <<'EOF'
import shutil
import sys
from pathlib import Path

import kaldiio

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
for name in ("train", "dev"):
    s, d = src / name, dst / name
    if not (s / "feats.scp").is_file():
        raise SystemExit(f"bench/gpu.sh: {s / 'feats.scp'} does not exist")
    d.mkdir(parents=True, exist_ok=True)
    with kaldiio.WriteHelper(f"ark,scp:{d / 'feats.ark'},{d / 'feats.scp.tmp'}") as writer:
        for utt, mat in kaldiio.load_scp_sequential(str(s / "feats.scp")):
            writer(utt, mat)
    (d / "feats.scp.tmp").rename(d / "feats.scp")
    for table in ("utt2num_frames", "utt2label", "utt2spk", "spk2utt", "utt2attack"):
        if (s / table).is_file():
            shutil.copyfile(s / table, d / table)
EOF
}

if [ -n "${pack_src}" ]; then
  pack_dump "${pack_src}" "${pack_dst}"
  log "packed ${pack_src}/{train,dev} into ${pack_dst} ($(du -sh "${pack_dst}" | cut -f1))"
  exit 0
fi

for whl_dir in "${dump:+${dump}/whl}" .whl; do
  if [ -n "${whl_dir}" ] && compgen -G "${whl_dir}/*.whl" >/dev/null; then
    log "installing carried wheels from ${whl_dir}"
    "${python}" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "${work}/site" "${whl_dir}"/*.whl
    export PYTHONPATH="${PYTHONPATH}:${work}/site"
  fi
done

if ${dry_run}; then
  device=cpu
  sizes=(--size mini --batch 4 --frames 48 --threads 1 --in-process)
  step_opts=(--steps 1 --warmup 0)
  compile_backend=aot_eager
  score_opts=(--size mini --batch 8 --frames 48 --threads 1 --steps 2 --warmup 1 --in-process)
  ddp_epochs=1
else
  device=cuda
  sizes=(--size paper --batch 64 --frames 750 --cudnn-benchmark)
  step_opts=(--steps "${steps}" --warmup 2)
  compile_backend=inductor
  score_opts=(--size paper --batch 256 --frames 750 --steps 20 --warmup 3 --cudnn-benchmark)
  if ! "${python}" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "bench/gpu.sh: no CUDA device visible to ${python} (use --dry-run on a CPU machine)" >&2
    exit 1
  fi
fi
"${python}" - > "${out}/device.txt" <<'EOF'
import platform, torch
name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu"
print(f"device: {name}; torch {torch.__version__}; cuda {torch.version.cuda}; "
      f"cudnn {torch.backends.cudnn.version()}; python {platform.python_version()}")
EOF
log "$(cat "${out}/device.txt")"

# -- 1. training step ------------------------------------------------------------------------------------
log "1/3 training step: vanilla and all, fp32 and bf16 (${device})"
: > "${out}/train_step.jsonl"
"${python}" bench/train_step.py --device "${device}" "${sizes[@]}" "${step_opts[@]}" --variants vanilla all \
  --amp none bf16 --paths reference efficient --json "${work}/step.jsonl" | tee "${out}/train_step.txt"
cat "${work}/step.jsonl" >> "${out}/train_step.jsonl"
"${python}" bench/train_step.py --device "${device}" "${sizes[@]}" "${step_opts[@]}" --variants vanilla all \
  --amp bf16 --paths efficient --channels-last --json "${work}/step_cl.jsonl" | tee -a "${out}/train_step.txt"
cat "${work}/step_cl.jsonl" >> "${out}/train_step.jsonl"
# train.compile (the dry run uses aot_eager: dynamo's tracing without a C++ toolchain).
"${python}" bench/train_step.py --device "${device}" "${sizes[@]}" "${step_opts[@]}" --variants vanilla all \
  --amp bf16 --paths efficient --compile "${compile_backend}" --json "${work}/step_compiled.jsonl" \
  | tee -a "${out}/train_step.txt"
cat "${work}/step_compiled.jsonl" >> "${out}/train_step.jsonl"

# -- 2. scoring throughput -------------------------------------------------------------------------------
log "2/3 scoring throughput, fp32 and bf16 (the network is the same for every variant)"
"${python}" bench/train_step.py --infer --device "${device}" "${score_opts[@]}" --variants vanilla \
  --amp none bf16 --json "${out}/score.jsonl" | tee "${out}/score.txt"

# -- 3. DDP training run on the mini corpus features -------------------------------------------------------
if ${dry_run}; then
  dump=${work}/dump
  log "3/3 synthetic features for the dry run, packed into ${dump}"
  "${python}" - "${work}/synthetic" <<'EOF'
import sys
from pathlib import Path

import kaldiio
import numpy as np

rng = np.random.default_rng(0)
for name, n in (("train", 24), ("dev", 8)):
    d = Path(sys.argv[1]) / name
    d.mkdir(parents=True)
    utts = [f"{name}_{i:03d}" for i in range(n)]
    labels = ["bonafide" if i % 3 == 0 else "spoof" for i in range(n)]
    speakers = [f"S{i % 3}" for i in range(n)]
    with kaldiio.WriteHelper(f"ark,scp:{d / 'feats.ark'},{d / 'feats.scp'}") as writer:
        lengths = []
        for utt in utts:
            mat = rng.standard_normal((int(rng.integers(60, 260)), 60)).astype(np.float32)
            writer(utt, mat)
            lengths.append(mat.shape[0])
    tables = {"utt2label": labels, "utt2spk": speakers, "utt2num_frames": lengths,
              "utt2attack": ["-" if lab == "bonafide" else "A01" for lab in labels]}
    for table, values in tables.items():
        (d / table).write_text("".join(f"{u} {v}\n" for u, v in zip(utts, values)))
    spk2utt = {}
    for u, s in zip(utts, speakers):
        spk2utt.setdefault(s, []).append(u)
    (d / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk2utt.items())))
EOF
  pack_dump "${work}/synthetic" "${dump}"
elif [ -z "${dump}" ] && [ -s egs/asvspoof2019_la/dump/lfcc/train/feats.scp ]; then
  dump=egs/asvspoof2019_la/dump/lfcc
fi

ddp_status=skipped
if [ -n "${dump}" ] && [ -s "${dump}/train/feats.scp" ] && [ -s "${dump}/dev/feats.scp" ]; then
  log "3/3 DDP training run (1 process, ${device}), ${ddp_epochs} epochs, at most ${ddp_timeout} s"
  conf=egs/asvspoof2019_la/conf
  t0=$(date +%s)
  set +e
  timeout "${ddp_timeout}" "${python}" -m torch.distributed.run --standalone --nproc_per_node=1 \
    -m ssd.bin.train --config "${conf}/train_ocsoftmax_all.yaml" --base "${conf}/train_mini.yaml" \
    --train-dir "${dump}/train" --dev-dir "${dump}/dev" --exp-dir "${work}/exp" --force \
    --device "${device}" --epochs "${ddp_epochs}" > "${out}/ddp_train.log" 2>&1
  rc=$?
  set -e
  ddp_seconds=$(( $(date +%s) - t0 ))
  case ${rc} in
    0) ddp_status="done" ;;
    124) ddp_status="stopped at ${ddp_timeout} s" ;;
    *) ddp_status="failed (rc ${rc})"; tail -n 30 "${out}/ddp_train.log" >&2 ;;
  esac
  infer_seconds=""
  if [ -f "${work}/exp/best.pt" ]; then
    t0=$(date +%s%N)
    "${python}" -m ssd.bin.infer --exp-dir "${work}/exp" --data-dir "${dump}/dev" --device "${device}" \
      --out "${work}/dev_scores.txt" > "${out}/infer.log" 2>&1
    infer_seconds=$(( ($(date +%s%N) - t0) / 1000000 ))e-3
  fi
  [ "${rc}" -eq 0 ] || [ "${rc}" -eq 124 ] || { echo "bench/gpu.sh: the DDP training run failed" >&2; exit 1; }
else
  log "3/3 skipped: no features (--dump DIR with train/ and dev/; see --help)"
fi

# -- table -----------------------------------------------------------------------------------------------
"${python}" - "${out}" "${ddp_status}" "${ddp_seconds:-}" "${infer_seconds:-}" "${dump}" \
  "$(( $(date +%s) - start_all ))" <<'EOF' | tee "${out}/table.md"
import json
import re
import sys
from pathlib import Path

out, ddp_status, ddp_seconds, infer_seconds, dump, total = sys.argv[1:7]
out = Path(out)
print(open(out / "device.txt").read().strip())
print()
print("| benchmark | variant | amp | layout | path | s/step | samples/s | peak MB | vs reference |")
print("|---|---|---|---|---|---:|---:|---:|---:|")
for name, kind in (("train_step.jsonl", "train step"), ("score.jsonl", "scoring")):
    for line in open(out / name):
        row = json.loads(line)
        spec = row["spec"]
        ref = row.get("reference", {}).get("samples_per_s")
        layout = "NHWC" if spec["channels_last"] else "NCHW"
        if spec.get("compile", "none") != "none":
            layout += f", compiled ({spec['compile']})"
        for path in ("reference", "efficient", "score"):
            if path in row:
                r = row[path]
                ratio = f"{r['samples_per_s'] / ref:.2f}" if ref and path != "score" else ""
                print(f"| {kind} b{spec['batch']} | {spec['variant']} | {spec['amp']} | {layout} | {path} | "
                      f"{r['s_per_step']:.3f} | {r['samples_per_s']:.1f} | {r['peak_mb']:.0f} | {ratio} |")
print()
if ddp_status == "skipped":
    print("DDP training run: skipped (no features)")
else:
    text = (out / "ddp_train.log").read_text(errors="replace")
    eers = re.findall(r"EER[^0-9]*([0-9.]+)", text)
    n_train = sum(1 for _ in open(Path(dump) / "train" / "feats.scp"))
    n_dev = sum(1 for _ in open(Path(dump) / "dev" / "feats.scp"))
    print(f"DDP training run (torchrun, 1 process): {ddp_status} in {ddp_seconds} s, {n_train} training "
          f"utterances/epoch, last dev EER {eers[-1] if eers else 'n/a'}")
    if infer_seconds:
        print(f"ssd.bin.infer on dev: {n_dev} utterances in {float(infer_seconds):.1f} s "
              f"({n_dev / float(infer_seconds):.1f} utterances/s, process start included)")
print(f"total wall time: {total} s")
EOF
