#!/usr/bin/env bash
# Corpus-agnostic countermeasure recipe: every stage after data preparation. Each recipe links this
# file as ./cm.sh and keeps only corpus knowledge in local/ (local/corpus.sh, local/data.sh).
#
#   stage 0 corpus    local/corpus.sh             -> a verified (or freshly built) corpus
#   stage 1 data      local/data.sh               -> data/<set>/ Kaldi data dirs
#   stage 2 features  data/<set>/wav.scp          -> dump/<frontend>/<set>/feats.scp (+ark) over nj jobs
#                     (the raw front end has nothing to compute: dump/raw/<set> lists the audio)
#   stage 3 train     dump/<frontend>/{train,dev} -> exp/<tag_prefix><loss>_<variant>/best.pt, one per variant
#                     (and exp/<system>/ for each reference system of --systems, e.g. lfcc_gmm)
#   stage 4 infer     dump/<frontend>/<set>, best.pt -> exp/<tag>/scores/<set>.txt
#                     (and exp/<tag>+<system>/scores/<set>.txt, each variant fused with --fuse-with)
#   stage 5 score     scores + dump/<frontend>/<set>/asv_scores.txt -> exp/<tag>/RESULTS.md, RESULTS.md
#   stage 6 pack      exp/<tag>, scores           -> exp/<tag>/packed/<tag>.zip (for ssd-detect --model)
#
# With --model (a packed detector or an experiment directory) the recipe evaluates that model instead:
# stages 3 and 6 have nothing to do, stage 2 computes the model's front end, stage 4 scores with it into
# exp/<model name>/scores/, and stage 5 reports (plus local/score.sh, when the recipe has one: the
# per-condition tables of a corpus's own keys).
set -euo pipefail

log() {
  printf '%s (%s:%s) %s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "${BASH_SOURCE[1]##*/}" "${BASH_LINENO[0]}" "$*" >&2
}

# Concatenate the per-job files named by a JOB pattern into one C-sorted file, written atomically.
merge_parts() {
  local num_jobs=$1 pattern=$2 out=$3 n
  for n in $(seq "${num_jobs}"); do
    cat "${pattern//JOB/${n}}"
  done | LC_ALL=C sort -k1,1 > "${out}.tmp"
  mv "${out}.tmp" "${out}"
}

# Begin configuration section.
stage=0               # first stage to run
stop_stage=10000      # last stage to run
corpus=""             # corpus root handed to local/corpus.sh and local/data.sh (empty: the recipe's default)
local_corpus_opts=""  # extra options for local/corpus.sh
local_data_opts=""    # extra options for local/data.sh
train_set=train       # data set the detector is trained on
dev_set=dev           # data set that selects the checkpoint (never eval)
test_sets="dev eval"  # data sets scored by stage 4 and 5
nj=4                  # parallel jobs for feature extraction (stage 2)
inference_nj=1        # parallel jobs scoring each set in stage 4 (through cuda_cmd; one GPU each with --ngpu)
fs=16000              # sample rate the corpus must have (a different rate is a data error, unless --resample true)
resample=false        # true: stage 2 resamples audio at another rate to --fs (polyphase, as ssd-detect)
skip_bad_utts=false   # true: skip unreadable audio in stage 2, listing it in dump/lfcc/<set>/bad_utts
dumpdir=dump          # where features go
expdir=exp            # where experiments go
cmd_backend=${cmd_backend:-local}  # how heavy jobs run: local, slurm or sge (cmd.sh maps it to train_cmd and cuda_cmd)
ngpu=auto             # GPUs per node for each training job: auto (the GPUs visible here), 0 (CPU), N (>1: DDP)
require_gpu=false     # true: refuse to train on CPU unless --ngpu 0 is given (paper-size configurations)
num_nodes=1           # nodes per training job (>1: multi-node DDP, ranks started by srun under Slurm)
loss=ocsoftmax        # ocsoftmax, amsoftmax or softmax
variants="vanilla recon conv spk all"  # auxiliary-task variants to train (conf/train_<loss>_<variant>.yaml; "": only the --systems)
seeds=""              # training seeds: one (or none: the config's) trains exp/<loss>_<variant>; several ("0 1 2") train exp/<loss>_<variant>_s<seed> each and stage 5 adds mean +- std and paired differences to vanilla
train_base=conf/train_base.yaml  # the training profile the variant configs are laid over (its model: section names the front end and backbone)
tag_prefix=""         # prepended to every experiment tag, e.g. aasist_ (run.sh: the backbone when not resnet)
train_opts=""         # extra options for ssd.bin.train, e.g. "--epochs 3 --data.batch_size 32"
infer_opts=""         # extra options for ssd.bin.infer
score_opts=""         # extra options for ssd.bin.results
pack_opts=""          # extra options for ssd.bin.pack (stage 6)
systems=""            # reference systems trained and scored beside the variants: lfcc_gmm (the ASVspoof 2019 LFCC-GMM baseline, on an LFCC dump beside any front end)
fuse_with=""          # a reference system of --systems fused with every variant in stage 4: exp/<tag>+<system>, the mean of their scores standardised on --dev-set (README "Fusing each variant with the LFCC-GMM")
gmm_opts=""           # extra options for ssd.bin.train_gmm, e.g. "--components 128 --max-frames 2000000"
model=""              # evaluate this trained detector (a packed .zip or an experiment dir) instead of training: stages 3 and 6 skipped
# End configuration section.

# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 [options]
Runs stages --stage..--stop-stage of the countermeasure recipe from the recipe directory (see the header
of cm.sh)."

# Options first: --help answers at once, and nothing below acts before the options are known.
. utils/parse_options.sh

if [ $# -ne 0 ]; then
  log "error: unexpected arguments: $*"
  exit 2
fi
case "${loss}" in ocsoftmax|amsoftmax|softmax) ;; *) log "error: --loss ${loss}: not ocsoftmax, amsoftmax or softmax"; exit 2 ;; esac
case " ${train_opts} " in
  *" --base "*|*" --base="*)
    log "error: --train-opts must not hold --base: the training profile is its own option, --train-base FILE"
    exit 2 ;;
esac
if [ "${ngpu}" = auto ]; then
  if [ -n "${CUDA_VISIBLE_DEVICES+set}" ]; then
    ngpu=$(tr ',' '\n' <<< "${CUDA_VISIBLE_DEVICES}" | grep -c '[0-9]' || true)
  elif command -v nvidia-smi >/dev/null; then
    ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
  else
    ngpu=0
  fi
  log "--ngpu auto: ${ngpu} GPU(s) visible on this machine"
  if [ "${ngpu}" -eq 0 ] && "${require_gpu}" && [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
    log "error: no GPU is visible here, and ${train_base} is a paper-size configuration: on a CPU it trains"
    log "  for weeks. With a cluster backend give --ngpu N (GPUs per job); --ngpu 0 trains on the CPU anyway."
    exit 2
  fi
fi
case "${ngpu}" in ''|*[!0-9]*) log "error: --ngpu ${ngpu}: not auto or a number of GPUs"; exit 2 ;; esac
# One run per variant and seed: "tag variant seed" (seed empty: the config's); with --model, that model.
read -r -a seed_list <<< "${seeds}"
runs=()
if [ -n "${model}" ]; then
  [ -e "${model}" ] || { log "error: --model ${model}: no such file or directory"; exit 2; }
  model_tag=$(basename "${model%/}" .zip)
  runs=("${model_tag} - -")
  variants=""
fi
# add_runs TAG WHAT: one run of WHAT (a variant or a system) per seed, tagged TAG or TAG_s<seed>.
add_runs() {
  local seed
  if [ ${#seed_list[@]} -le 1 ]; then
    runs+=("$1 $2 ${seed_list[0]:-}")
  else
    for seed in "${seed_list[@]}"; do
      runs+=("$1_s${seed} $2 ${seed}")
    done
  fi
}
for variant in ${variants}; do
  add_runs "${tag_prefix}${loss}_${variant}" "${variant}"
done
# Reference systems, trained per seed like the variants (the GMMs' k-means++ is seeded).
if [ -z "${model}" ]; then
  for system in ${systems}; do
    case "${system}" in lfcc_gmm) ;; *) log "error: --systems ${system}: not lfcc_gmm"; exit 2 ;; esac
    add_runs "${system}" "${system}"
  done
fi
# Fusions of each variant's run with the --fuse-with system's run of the same seed: "fused member system".
fusions=()
case " ${systems} " in
  *" ${fuse_with} "*) ;;
  *) [ -z "${fuse_with}" ] || log "note: --fuse-with ${fuse_with} is not among --systems (${systems:-none}): nothing is fused"
     fuse_with="" ;;
esac
[ -z "${model}" ] || fuse_with=""  # nothing is trained with --model, so there is nothing to fuse
if [ -n "${fuse_with}" ]; then
  for run in "${runs[@]}"; do
    read -r tag variant seed <<< "${run}"
    [ "${variant}" = "${fuse_with}" ] && continue
    case " ${systems} " in *" ${variant} "*) continue ;; esac
    if [ ${#seed_list[@]} -le 1 ]; then
      fusions+=("${tag}+${fuse_with} ${tag} ${fuse_with}")
    else
      fusions+=("${tag%_s"${seed}"}+${fuse_with}_s${seed} ${tag} ${fuse_with}_s${seed}")
    fi
  done
fi
# shellcheck disable=SC2086  # test_sets is a list
all_sets=$(printf '%s\n' "${train_set}" "${dev_set}" ${test_sets} | awk '!seen[$0]++' | tr '\n' ' ')
if [ -n "${model}" ]; then
  all_sets="${test_sets} "  # nothing is trained: only the sets to score are prepared
fi

# The environment (tools/venv, created on first use) and the job launchers of --cmd-backend.
"$(cd -P utils/.. && pwd)/tools/setup.sh"
. ./path.sh
. ./cmd.sh

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
  log "Stage 0: corpus (local/corpus.sh)"
  # shellcheck disable=SC2086
  local/corpus.sh --corpus "${corpus}" ${local_corpus_opts}
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
  log "Stage 1: data (local/data.sh -> data/{${all_sets% }})"
  # shellcheck disable=SC2086
  local/data.sh --corpus "${corpus}" ${local_data_opts} data
  for dset in ${all_sets}; do
    utils/validate_data_dir.sh --no-feats --no-spk-sort "data/${dset}"
  done
fi

# The front end comes from the training profile: it decides what stage 2 writes and where stages 3-6 read.
if [ "${stop_stage}" -ge 2 ] && [ "${stage}" -le 6 ] && [ -n "${model}" ]; then
  frontend=$(python -m ssd.bin.model_info --model "${model}" --get table) || {
    log "error: --model ${model} is not a model ssd can load"; exit 2; }
  feats=${dumpdir}/${frontend}
elif [ "${stop_stage}" -ge 2 ] && [ "${stage}" -le 6 ]; then
  config=""
  for variant in ${variants}; do
    config=conf/train_${loss}_${variant}.yaml
    [ -f "${config}" ] || { log "error: no ${config} for variant ${variant}"; exit 2; }
  done
  if [ -n "${config}" ]; then
    frontend=$(python -m ssd.bin.model_info --config "${config}" --base "${train_base}" --get table) || {
      log "error: ${train_base} with ${config} does not build a model"; exit 2; }
  elif [ -n "${systems}" ]; then
    frontend=lfcc  # reference systems only: they read the LFCC dump
  else
    log "error: nothing to run: --variants and --systems are both empty"; exit 2
  fi
  feats=${dumpdir}/${frontend}
fi
# The reference systems read the LFCC dump, which stage 2 then writes beside the profile's own.
lfcc_feats=${dumpdir}/lfcc
tables=${frontend:-}
if [ -n "${systems}" ] && [ -z "${model}" ] && [ "${frontend:-lfcc}" != lfcc ]; then
  tables="${frontend} lfcc"
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
  log "Stage 2: ${tables// / and } features (data/<set>/wav.scp -> ${dumpdir}/{${tables// /,}}/<set>, nj=${nj})"
  for table in ${tables}; do
    # What each dump records of its front end, so that one computed otherwise is redone, never reused.
    settings=""
    [ "${table}" = raw ] || settings=$(ssd-compute-lfcc --frontend "${table}" --fs "${fs}" --print-settings)
    for dset in ${all_sets}; do
      dump=${dumpdir}/${table}/${dset}
      if [ -f "${dump}/.done" ]; then
        if [ "${table}" = raw ] || [ "$(cat "${dump}/frontend.json" 2>/dev/null)" = "${settings}" ]; then
          log "${dump} is complete (remove ${dump}/.done to redo it)"
          continue
        fi
        log "${dump} was computed with other ${table} settings than this version's (${dump}/frontend.json): redoing it"
      fi
      if [ "${table}" = raw ] && { [ -f "data/${dset}/segments" ] || "${resample}"; }; then
        log "error: data/${dset}: the raw front end reads the audio as wav.scp lists it: no segments file and no"
        log "  --resample (cut or resample the recordings first, or use a front end that dumps features)"
        exit 2
      fi
      if [ "${table}" = raw ]; then
        # Nothing to compute: the tables and wav.scp are copied; training and stage 4 read (and check) the audio.
        rm -rf "${dump}"
        mkdir -p "${dump}"
        for name in wav.scp utt2spk spk2utt utt2label utt2attack asv_scores.txt corpus; do
          [ -f "data/${dset}/${name}" ] && cp "data/${dset}/${name}" "${dump}/${name}"
        done
        utils/validate_data_dir.sh --no-feats --no-spk-sort "${dump}"
        touch "${dump}/.done"
        log "${dset}: raw front end, no features to compute: ${dump}/wav.scp lists $(wc -l < "${dump}/wav.scp") recordings"
        continue
      fi
      rm -rf "${dump}"
      mkdir -p "${dump}/data" "${dump}/log"
      # With a segments file the jobs split the segments (utterances) and each reads the whole wav.scp.
      list=wav.scp
      [ -f "data/${dset}/segments" ] && list=segments
      num_utts=$(wc -l < "data/${dset}/${list}")
      _nj=$(( nj < num_utts ? nj : num_utts ))
      split_scps=()
      for n in $(seq "${_nj}"); do
        split_scps+=("${dump}/log/${list}.${n}")
      done
      utils/split_scp.pl "data/${dset}/${list}" "${split_scps[@]}"
      job_opts=()
      if [ "${list}" = segments ]; then
        job_opts=(--segments "${dump}/log/segments.JOB")
        job_scp=data/${dset}/wav.scp
      else
        job_scp=${dump}/log/wav.scp.JOB
      fi
      "${resample}" && job_opts+=(--resample)
      bad_opt=()
      if "${skip_bad_utts}"; then
        bad_opt=(--skip-bad-utts "${dump}/data/bad_utts.JOB")
      fi
      log "${dset}: ${num_utts} utterances over ${_nj} jobs, logs in ${dump}/log/${table}.*.log"
      # Kaldi style: the scp holds absolute ark paths, so features read the same from any directory.
      ark_dir=$(cd "${dump}/data" && pwd)
      ${train_cmd} JOB=1:"${_nj}" "${dump}/log/${table}.JOB.log" \
        ssd-compute-lfcc --frontend "${table}" --fs "${fs}" --write-utt2num-frames "${dump}/data/utt2num_frames.JOB" "${bad_opt[@]}" \
          "${job_opts[@]}" "${job_scp}" "ark,scp:${ark_dir}/feats.JOB.ark,${dump}/data/feats.JOB.scp"
      merge_parts "${_nj}" "${dump}/data/feats.JOB.scp" "${dump}/feats.scp"
      merge_parts "${_nj}" "${dump}/data/utt2num_frames.JOB" "${dump}/utt2num_frames"
      if "${skip_bad_utts}"; then
        cat "${dump}"/data/bad_utts.* | LC_ALL=C sort > "${dump}/bad_utts"
      fi
      for name in utt2spk spk2utt utt2label utt2attack asv_scores.txt corpus; do
        [ -f "data/${dset}/${name}" ] && cp "data/${dset}/${name}" "${dump}/${name}"
      done
      # The audio too, one file per utterance (no segments): augmented training cuts its crops from it.
      [ "${list}" = wav.scp ] && cp "data/${dset}/wav.scp" "${dump}/wav.scp"
      if [ -s "${dump}/bad_utts" ]; then
        log "warning: ${dset}: $(wc -l < "${dump}/bad_utts") utterances skipped, listed in ${dump}/bad_utts"
        utils/filter_scp.pl "${dump}/feats.scp" "data/${dset}/utt2spk" > "${dump}/utt2spk"
        [ "${list}" = wav.scp ] && utils/filter_scp.pl "${dump}/feats.scp" "data/${dset}/wav.scp" > "${dump}/wav.scp"
        for name in utt2label utt2attack; do
          utils/filter_scp.pl "${dump}/feats.scp" "data/${dset}/${name}" > "${dump}/${name}"
        done
        utils/utt2spk_to_spk2utt.pl "${dump}/utt2spk" > "${dump}/spk2utt"
      fi
      utils/validate_data_dir.sh --no-spk-sort "${dump}"
      printf '%s\n' "${settings}" > "${dump}/frontend.json"
      touch "${dump}/.done"
      log "${dset}: $(wc -l < "${dump}/feats.scp") feature matrices in ${dump}/feats.scp"
    done
  done
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ] && [ -n "${model}" ]; then
  log "Stage 3: nothing to train, evaluating --model ${model}"
elif [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
  log "Stage 3: training (${feats}/{${train_set},${dev_set}} -> ${expdir}/${tag_prefix}${loss}_<variant>, variants: ${variants})"
  for run in "${runs[@]}"; do
    read -r tag variant seed <<< "${run}"
    if [ "${variant}" = lfcc_gmm ]; then
      if [ -f "${expdir}/${tag}/gmm.npz" ]; then
        log "${tag}: ${expdir}/${tag}/gmm.npz exists (remove it to train again)"
        continue
      fi
      mkdir -p "${expdir}/${tag}"
      log "${tag}: the LFCC-GMM baseline${seed:+, seed ${seed}}, log in ${expdir}/${tag}/train.log"
      # shellcheck disable=SC2086
      ${train_cmd} "${expdir}/${tag}/train.log" python -m ssd.bin.train_gmm --train-dir "${lfcc_feats}/${train_set}" \
        --exp-dir "${expdir}/${tag}" ${seed:+--seed "${seed}"} ${gmm_opts}
      continue
    fi
    config=conf/train_${loss}_${variant}.yaml
    [ -f "${config}" ] || { log "error: no ${config} for variant ${variant}"; exit 2; }
    mkdir -p "${expdir}/${tag}"
    log "${tag}: ${config}${seed:+, seed ${seed}}, log in ${expdir}/${tag}/train.log"
    train_args=(--config "${config}" --train-dir "${feats}/${train_set}"
      --dev-dir "${feats}/${dev_set}" --exp-dir "${expdir}/${tag}" --base "${train_base}"
      ${seed:+--seed "${seed}"})
    if [ "${num_nodes}" -gt 1 ]; then
      # One srun task per GPU (or per node on CPU); each reads its rank from the SLURM_* environment.
      ranks_per_node=$(( ngpu > 0 ? ngpu : 1 ))
      # shellcheck disable=SC2086
      ${cuda_cmd} --gpu "${ngpu}" --num-nodes "${num_nodes}" --ntasks-per-node "${ranks_per_node}" \
        "${expdir}/${tag}/train.log" srun python -m ssd.bin.train "${train_args[@]}" ${train_opts} \
          --ngpu "$(( ngpu > 0 ? 1 : 0 ))"
    else
      # --ngpu N > 1 starts N DDP ranks on this node through torch.distributed.run.
      # shellcheck disable=SC2086
      ${cuda_cmd} --gpu "${ngpu}" "${expdir}/${tag}/train.log" \
        python -m ssd.bin.train "${train_args[@]}" ${train_opts} --ngpu "${ngpu}"
    fi
  done
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
  log "Stage 4: inference (${feats}/<set> + ${model:-best.pt} -> ${expdir}/<tag>/scores/<set>.txt, inference_nj=${inference_nj})"
  device=cpu
  [ "${ngpu}" -gt 0 ] && device=cuda
  for run in "${runs[@]}"; do
    read -r tag variant _ <<< "${run}"
    if [ "${variant}" = lfcc_gmm ]; then
      for dset in ${test_sets}; do
        ${train_cmd} "${expdir}/${tag}/log/score_${dset}.log" python -m ssd.bin.score_gmm --exp-dir "${expdir}/${tag}" \
          --data-dir "${lfcc_feats}/${dset}" --out "${expdir}/${tag}/scores/${dset}.txt"
      done
      log "${tag}: scores in ${expdir}/${tag}/scores/"
      continue
    fi
    if [ -n "${model}" ]; then scorer=(--model "${model}"); else scorer=(--exp-dir "${expdir}/${tag}"); fi
    for dset in ${test_sets}; do
      data=${feats}/${dset}
      out=${expdir}/${tag}/scores/${dset}.txt
      num_utts=$(wc -l < "${data}/utt2spk")
      _nj=$(( inference_nj < num_utts ? inference_nj : num_utts ))
      # Job JOB scores share JOB/_nj of the set's batches (one GPU each with --ngpu); merged in C order the
      # shares are byte-identical to one job's file (see ssd/inference.py).
      parts=${expdir}/${tag}/scores/parts
      mkdir -p "${parts}"
      # shellcheck disable=SC2086
      ${cuda_cmd} --gpu "$(( ngpu > 0 ? 1 : 0 ))" JOB=1:"${_nj}" "${expdir}/${tag}/log/infer_${dset}.JOB.log" \
        python -m ssd.bin.infer "${scorer[@]}" --data-dir "${data}" --shard "JOB/${_nj}" \
          --device "${device}" --out "${parts}/${dset}.JOB.txt" ${infer_opts}
      merge_parts "${_nj}" "${parts}/${dset}.JOB.txt" "${out}"
      rm -f "${parts}/${dset}".*.txt
    done
    log "${tag}: scores in ${expdir}/${tag}/scores/"
  done
  for fusion in "${fusions[@]}"; do
    read -r fused member system <<< "${fusion}"
    # The members' dev scores standardise them: this run's, or an earlier one's when dev is not scored now.
    if [ ! -f "${expdir}/${member}/scores/${dev_set}.txt" ] || [ ! -f "${expdir}/${system}/scores/${dev_set}.txt" ]; then
      log "note: ${fused}: no ${dev_set} scores of ${member} and ${system} to standardise on: not fused (score ${dev_set} too, or --fuse-with \"\")"
      continue
    fi
    # shellcheck disable=SC2086  # test_sets is a list
    python -m ssd.bin.fuse --exp-dirs "${expdir}/${member}" "${expdir}/${system}" --sets ${test_sets} \
      --norm-set "${dev_set}" --out-dir "${expdir}/${fused}"
    log "${fused}: ${member} fused with ${system}, scores in ${expdir}/${fused}/scores/"
  done
fi

if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
  log "Stage 5: scoring (scores + ${feats}/<set>/asv_scores.txt -> ${expdir}/<tag>/RESULTS.md, RESULTS.md)"
  exp_dirs=()
  for run in "${runs[@]}"; do
    read -r tag _ _ <<< "${run}"
    exp_dirs+=("${expdir}/${tag}")
  done
  for fusion in "${fusions[@]}"; do
    read -r fused _ _ <<< "${fusion}"
    if [ -d "${expdir}/${fused}/scores" ]; then exp_dirs+=("${expdir}/${fused}"); fi  # stage 4 noted any it could not fuse
  done
  seed_opts=()
  if [ ${#seed_list[@]} -gt 1 ]; then
    baseline=none  # paired differences only where vanilla was trained
    case " ${variants} " in *" vanilla "*) baseline=${tag_prefix}${loss}_vanilla ;; esac
    seed_opts=(--aggregate-seeds --baseline "${baseline}")
  fi
  # Reference EERs of the corpus (local/data.sh may write them; the mini corpus's trivial baselines).
  [ -f data/references.json ] && seed_opts+=(--references data/references.json)
  # shellcheck disable=SC2086
  # The dump dirs hold the tables of the utterances that have features (bad_utts left out) and the ASV scores.
  python -m ssd.bin.results --exp-dirs "${exp_dirs[@]}" --data-root "${feats}" --sets ${test_sets} \
    --out RESULTS.md "${seed_opts[@]}" ${score_opts}
  if [ -x local/score.sh ]; then  # the corpus's own tables (e.g. per condition of its keys)
    for run in "${runs[@]}"; do
      read -r tag _ _ <<< "${run}"
      # shellcheck disable=SC2086
      local/score.sh --corpus "${corpus}" ${local_data_opts} "${expdir}/${tag}" ${test_sets}
    done
  fi
  log "Results: RESULTS.md"
fi

if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ] && [ -n "${model}" ]; then
  log "Stage 6: nothing to pack, --model ${model} is the model"
elif [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
  log "Stage 6: packing (${expdir}/<tag>/best.pt + scores -> ${expdir}/<tag>/packed/<tag>.zip)"
  for run in "${runs[@]}"; do
    read -r tag variant _ <<< "${run}"
    [ "${variant}" = lfcc_gmm ] && continue  # a reference row, not a detector ssd-detect loads
    # shellcheck disable=SC2086
    python -m ssd.bin.pack --exp-dir "${expdir}/${tag}" --data-root "${feats}" --fs "${fs}" --dev-set "${dev_set}" \
      --out "${expdir}/${tag}/packed/${tag}.zip" ${pack_opts}
    log "${tag}: score any recording with: ssd-detect <audio> --model ${expdir}/${tag}/packed/${tag}.zip"
  done
fi

log "Successfully finished stages ${stage}..${stop_stage}"
