#!/usr/bin/env bash
# The GPU check: on any machine with an NVIDIA GPU and a Python with PyTorch and torchvision (its own; no network
# needed with --wheelhouse), it
#   1. builds mmcv-full's CUDA ops from its sdist against that PyTorch, for the visible GPUs' architecture only,
#      with the pinned nvcc of requirements/cuda-nvcc.txt (the modern image's and CI's) when torch's CUDA is that
#      release, else with the machine's own toolkit (or always with it: --nvcc system),
#   2. trains Sum-Up and an AFA row for a few hundred iterations on synthetic data with native AMP, then tests
#      each on the GPU (mmcv's CUDA ops in training and inference),
#   3. runs the neck benchmark (and the detector benchmark when benchmarks/detector_cost.py exists) on the GPU,
# and writes every log and a summary (each step's time next to the time expected) under the work folder. See
# docker/README.md ("The GPU check").
#
#   scripts/gpu_check.sh [--python PY] [--wheelhouse DIR] [--work DIR] [--iters N] [--rows "ROW ROW"]
#                        [--arch LIST] [--nvcc pinned|system] [--dry-run]
#
#   --python PY      the interpreter whose torch to build against (default: $AFA_GPU_PYTHON, else python3)
#   --wheelhouse DIR install offline from DIR: mmcv-full's sdist, the wheels of requirements/build.txt and cpu.txt,
#                    and requirements/cuda-nvcc.txt's (make wheelhouse fills it); default: from the package index
#   --work DIR       venv, wheel cache, data, runs, logs and summary (default: gpu-check/)
#   --iters N        training iterations per row (default 300; 50 per epoch of the synthetic set)
#   --rows "R ..."   rows to train (default: "cmrcn_r50_sumup_1x cmrcn_r50_mssa_adp_1x")
#   --arch LIST      TORCH_CUDA_ARCH_LIST for the build (default: the visible GPUs' compute capabilities)
#   --nvcc MODE      pinned (default): requirements/cuda-nvcc.txt's nvcc; system: the toolkit torch finds
#   --dry-run        check the arguments and print the steps without running them (no GPU needed)
#
# Expected on 16 cores and one H100 / H200 from a wheelhouse, about 12 minutes in all (estimates from CPU
# measurements here, not yet timed on such a machine; the summary prints both):
#   venv and the wheelhouse's packages              1 min
#   nvcc from the wheelhouse                        0.5 min
#   mmcv-full's ops for one architecture            6 min  (56 CUDA sources of ~40 s of CPU each and the CPU
#                                                           ops, 16 at a time; 2 architectures take twice that)
#   train each row, 300 iterations with AMP         1.5 min (model build, cuDNN autotuning, ~0.1 s/iteration)
#   test each row                                   0.5 min
#   the benchmarks                                  1 min
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${AFA_GPU_PYTHON:-python3}
wheelhouse=""
work=gpu-check
iters=300
rows="cmrcn_r50_sumup_1x cmrcn_r50_mssa_adp_1x"
arch=""
nvcc_mode=pinned
dry_run=false
images_per_epoch=100   # synthetic training images; 2 per iteration at the smoke scale: 50 iterations an epoch

log() { printf '[gpu-check] %s\n' "$*" >&2; }
die() { printf 'gpu_check: error: %s\n' "$1" >&2; exit 2; }
usage() { sed -n '13,34p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --python) [[ $# -ge 2 ]] || die "--python needs an interpreter"; python=$2; shift 2 ;;
        --wheelhouse) [[ $# -ge 2 ]] || die "--wheelhouse needs a folder"; wheelhouse=$2; shift 2 ;;
        --work) [[ $# -ge 2 ]] || die "--work needs a folder"; work=$2; shift 2 ;;
        --iters) [[ $# -ge 2 ]] || die "--iters needs a number"; iters=$2; shift 2 ;;
        --rows) [[ $# -ge 2 ]] || die "--rows needs row ids"; rows=$2; shift 2 ;;
        --arch) [[ $# -ge 2 ]] || die "--arch needs a list such as '8.0;9.0'"; arch=$2; shift 2 ;;
        --nvcc) [[ $# -ge 2 ]] || die "--nvcc needs pinned or system"; nvcc_mode=$2; shift 2 ;;
        --dry-run|-n) dry_run=true; shift ;;
        *) die "unknown option '$1' (see scripts/gpu_check.sh --help)" ;;
    esac
done

[[ $iters =~ ^[1-9][0-9]*$ ]] || die "--iters must be a positive number, not '$iters'"
epochs=$(( (iters * 2 + images_per_epoch - 1) / images_per_epoch ))
read -r -a row_list <<< "$rows"
[[ ${#row_list[@]} -gt 0 ]] || die "--rows needs at least one row id"
# Names of the run layout come from the package (afa/runs/layout.py), asked through the CLI with the host's Python.
layout() { PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" "$python" -m afa.cli layout "$@"; }
for row in "${row_list[@]}"; do
    layout run-id "$row" >/dev/null 2>&1 || die "$(layout run-id "$row" 2>&1 | tail -n 1 | sed 's/^afa layout: error: //')"
done
[[ $nvcc_mode == pinned || $nvcc_mode == system ]] || die "--nvcc must be pinned or system, not '$nvcc_mode'"
[[ -z $arch || $arch =~ ^[0-9]+\.[0-9]+(\+PTX)?(\;[0-9]+\.[0-9]+(\+PTX)?)*$ ]] \
    || die "--arch must look like '8.0;9.0', not '$arch'"
if [[ -n $wheelhouse ]]; then
    [[ -d $wheelhouse ]] || die "--wheelhouse $wheelhouse is not a folder"
    wheelhouse=$(cd "$wheelhouse" && pwd)
fi
work=$(realpath -m "$work")
$dry_run || mkdir -p "$work"

# mmcv-full's version and sdist hash: one source, the host setup.
mmcv_version=$(sed -n 's/^mmcv_version=//p' "$repo/scripts/setup_env.sh")
mmcv_sha256=$(sed -n 's/^mmcv_sdist_sha256=//p' "$repo/scripts/setup_env.sh")
[[ -n $mmcv_version && -n $mmcv_sha256 ]] || die "scripts/setup_env.sh no longer names mmcv_version / mmcv_sdist_sha256"

venv="$work/venv"
vpy="$venv/bin/python"
afa=("$vpy" -m afa.cli)
pip_source=()
[[ -n $wheelhouse ]] && pip_source=(--no-index --find-links "$wheelhouse")

run() {  # print a step; run it unless --dry-run
    printf '+ %s\n' "$*" >&2
    $dry_run || "$@"
}

timed() {  # NAME EXPECTED_S LOGFILE CMD...: run CMD with its output in LOGFILE, record its wall time
    local name=$1 expected=$2 logfile=$3 start=$SECONDS
    shift 3
    printf '+ %s > %s\n' "$*" "$logfile" >&2
    $dry_run && return 0
    if ! "$@" > "$logfile" 2>&1; then
        tail -n 30 "$logfile" >&2
        die "$name failed: full log in $logfile"
    fi
    printf '%-34s %6d s  (expected %d s)\n' "$name" $(( SECONDS - start )) "$expected" >> "$work/summary.txt"
}

# 0. What this machine has.
if $dry_run; then
    log "dry run: $python, work folder $work, rows ${row_list[*]}, $iters iterations ($epochs epochs of $images_per_epoch images)"
else
    command -v "$python" >/dev/null 2>&1 || die "$python not found: pass --python with the interpreter that has PyTorch"
    probe=$("$python" - <<'EOF' 2>&1
import sys
try:
    import torch, torchvision  # noqa: F401  (mmcv.runner imports torchvision)
except ImportError as error:
    sys.exit('needs torch and torchvision: %s' % error)
from torch.utils.cpp_extension import CUDA_HOME
if not torch.cuda.is_available():
    sys.exit('no CUDA GPU visible to torch %s: run this on a GPU machine (CUDA_VISIBLE_DEVICES=%r)'
             % (torch.__version__, __import__('os').environ.get('CUDA_VISIBLE_DEVICES')))
caps = sorted({'%d.%d' % torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})
print(torch.__version__, torch.version.cuda, ';'.join(caps), torch.cuda.get_device_name(0).replace(' ', '_'),
      CUDA_HOME or '-')
EOF
) || die "$python: ${probe##*$'\n'}"
    read -r torch_version torch_cuda caps gpu_name system_cuda_home <<< "$probe"
    arch=${arch:-$caps}
    log "$gpu_name, torch $torch_version (CUDA $torch_cuda), building for $arch"
    {
        echo "GPU check $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
        echo "GPU: ${gpu_name//_/ } x $("$python" -c 'import torch; print(torch.cuda.device_count())'); driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1)"
        echo "torch $torch_version, CUDA $torch_cuda, arch $arch"
    } > "$work/summary.txt"
fi
arch=${arch:-8.0;9.0}

# nvcc: the pinned one (requirements/cuda-nvcc.txt, as the modern image and CI build) when it is torch's CUDA
# release, else the machine's toolkit. The pinned packages hold nvcc, not the cuBLAS/cuSPARSE headers torch's
# CUDA headers include: those come from torch's own CUDA packages (site-packages/nvidia/cuXX/include).
pinned_release=$(sed -n 's/^nvidia-cuda-nvcc==\([0-9]*\.[0-9]*\)\..*/\1/p' "$repo/requirements/cuda-nvcc.txt")
if $dry_run; then
    torch_cuda=${torch_cuda:-$pinned_release}
fi
if [[ $nvcc_mode == pinned && $torch_cuda != "$pinned_release" ]]; then
    log "torch's CUDA is $torch_cuda, the pinned nvcc's $pinned_release: using the machine's toolkit"
    nvcc_mode=system
fi
build_env=()

# 1. A venv over the machine's PyTorch, and mmcv-full's CUDA ops built against it (cached per torch and arch).
[[ -x $vpy ]] || run "$python" -m venv --system-site-packages "$venv"
timed "venv: requirements/build.txt" 60 "$work/pip-build.log" \
    "$vpy" -m pip install --disable-pip-version-check "${pip_source[@]}" -r "$repo/requirements/build.txt"
if [[ $nvcc_mode == pinned ]]; then
    printf '+ AFA_CACHE=%s AFA_WHEELHOUSE=%s bash %s %s %s\n' "$work/cache" "$wheelhouse" \
        "$repo/scripts/cuda_tools.sh" "$repo/requirements/cuda-nvcc.txt" "$vpy" >&2
    if $dry_run; then
        cuda_home="$work/cache/cuda/cuda-nvcc-HASH/nvidia/cu${pinned_release%%.*}"
        torch_cuda_include="TORCH_SITE_PACKAGES/nvidia/cu${pinned_release%%.*}/include"
    else
        start=$SECONDS
        toolkit=$(AFA_CACHE="$work/cache" AFA_WHEELHOUSE="$wheelhouse" \
            bash "$repo/scripts/cuda_tools.sh" "$repo/requirements/cuda-nvcc.txt" "$vpy") \
            || die "could not install requirements/cuda-nvcc.txt${wheelhouse:+ from $wheelhouse}"
        printf '%-34s %6d s  (expected %d s)\n' "nvcc (requirements/cuda-nvcc.txt)" $(( SECONDS - start )) 30 \
            >> "$work/summary.txt"
        cuda_home=$(find "$toolkit/nvidia" -maxdepth 1 -name 'cu*' | head -n 1)
        torch_cuda_include=$("$vpy" - "$(basename "$cuda_home")" <<'EOF'
import os, sys
import nvidia
found = [os.path.join(p, sys.argv[1], 'include') for p in nvidia.__path__
         if os.path.exists(os.path.join(p, sys.argv[1], 'include', 'cublas_v2.h'))]
print(found[0] if found else '')
EOF
)
        [[ -n $torch_cuda_include ]] \
            || die "torch $torch_version has no nvidia/$(basename "$cuda_home")/include with cublas_v2.h: try --nvcc system"
        echo "nvcc: $("$cuda_home/bin/nvcc" --version | grep -o 'release [^,]*, V[0-9.]*') (requirements/cuda-nvcc.txt)" \
            >> "$work/summary.txt"
    fi
    build_env=(CUDA_HOME="$cuda_home" CPLUS_INCLUDE_PATH="$torch_cuda_include")
elif ! $dry_run; then
    [[ $system_cuda_home != - ]] \
        || die "torch $torch_version (CUDA $torch_cuda) finds no CUDA toolkit: install nvcc $torch_cuda or set CUDA_HOME"
    echo "nvcc: $("$system_cuda_home/bin/nvcc" --version | grep -o 'release [^,]*, V[0-9.]*') ($system_cuda_home)" \
        >> "$work/summary.txt"
fi
wheel_dir="$work/wheels/mmcv-full-$mmcv_version-torch-${torch_version:-X}-arch-${arch//;/_}"
wheel=$(find "$wheel_dir" -maxdepth 1 -name 'mmcv_full-*.whl' 2>/dev/null | head -n 1 || true)
if [[ -z $wheel ]]; then
    src="$work/src"
    run rm -rf "$src"
    run mkdir -p "$src" "$wheel_dir"
    run "$vpy" -m pip download --disable-pip-version-check "${pip_source[@]}" --no-deps --no-binary :all: \
        --no-build-isolation -d "$src" "mmcv-full==$mmcv_version"
    run sha256sum --check --quiet <<< "$mmcv_sha256  $src/mmcv-full-$mmcv_version.tar.gz"
    run tar -xzf "$src/mmcv-full-$mmcv_version.tar.gz" -C "$src"
    if $dry_run || grep -q 'C++20 or later' "$venv"/lib/python*/site-packages/torch/include/ATen/ATen.h \
        "$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')/include/ATen/ATen.h" 2>/dev/null; then
        run "$vpy" "$repo/scripts/patch_mmcv_cxx_std.py" "$src/mmcv-full-$mmcv_version/setup.py" c++20 --nvcc
    fi
    # the venv's ninja (requirements/build.txt) must be on PATH: torch's extension builder looks for it there
    timed "build mmcv-full ops ($arch)" $(( 360 * $(tr ';' '\n' <<< "$arch" | grep -c .) )) "$work/mmcv-build.log" \
        env "${build_env[@]}" PATH="$venv/bin:$PATH" MMCV_WITH_OPS=1 FORCE_CUDA=1 \
        TORCH_CUDA_ARCH_LIST="$arch" MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "$vpy" -m pip wheel -v --disable-pip-version-check --no-deps --no-build-isolation -w "$wheel_dir" \
        "$src/mmcv-full-$mmcv_version"
    wheel=$(find "$wheel_dir" -maxdepth 1 -name 'mmcv_full-*.whl' 2>/dev/null | head -n 1 || true)
    $dry_run || [[ -n $wheel ]] || die "no mmcv-full wheel in $wheel_dir: see $work/mmcv-build.log"
fi
timed "install mmcv-full and cpu.txt" 30 "$work/pip-install.log" \
    "$vpy" -m pip install --disable-pip-version-check "${pip_source[@]}" "${wheel:-$wheel_dir/mmcv_full.whl}" \
    -r "$repo/requirements/cpu.txt"
run "$vpy" -c "import torch; from mmcv.ops import get_compiling_cuda_version as v, RoIAlign; \
assert v() == torch.version.cuda, (v(), torch.version.cuda); print('mmcv ops CUDA', v())"

# 2. Training with native AMP on the GPU, then testing: Sum-Up and an AFA row on synthetic data.
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
data="$work/synthetic"
run "${afa[@]}" data synthetic --root "$data" --train "$images_per_epoch" --val 16 --test 8
for row in "${row_list[@]}"; do
    # the run folder, as afa/runs/layout.py spells it (an amp run's id is ROW@amp)
    run_dir=$(layout run-dir "$(layout run-id "$row" --precision amp)" --scale smoke --runs-root "$work/runs")
    run rm -rf "$run_dir"
    timed "train $row ($iters it, amp)" 90 "$work/train-$row.log" "${afa[@]}" train "$row" --smoke \
        --smoke-epochs "$epochs" --precision amp --gpus 1 --data-root "$data" --runs-root "$work/runs" \
        --cfg-options log_config.interval=25
    timed "test $row" 30 "$work/test-$row.log" "${afa[@]}" test "$row" "$run_dir/$(layout file "done")" --smoke \
        --precision amp --data-root "$data" --runs-root "$work/runs" --gpus 1
    $dry_run || "$vpy" - "$run_dir" "$(layout file metrics)" >> "$work/summary.txt" <<'EOF'
import glob, json, os, sys
run_dir = sys.argv[1]
logs = sorted(glob.glob(os.path.join(run_dir, '**', '*.log.json'), recursive=True))
train = [json.loads(line) for line in open(logs[-1]) if '"mode": "train"' in line] if logs else []
metrics = os.path.join(run_dir, sys.argv[2])
box = (json.load(open(metrics)).get('bbox') or {}).get('AP') if os.path.exists(metrics) else None
last = train[-1] if train else {}
print('  %s: last logged iteration loss %s, %s s/iter, memory %s MB; box AP %s'
      % (os.path.basename(run_dir), last.get('loss'), last.get('time'), last.get('memory'), box))
EOF
done

# 3. The benchmarks on the GPU.
timed "neck benchmark" 30 "$work/neck_cost.txt" "$vpy" "$repo/benchmarks/neck_cost.py" --device cuda
if [[ -f $repo/benchmarks/detector_cost.py ]]; then
    detector_args=()  # written beside this script by another hand: pass --device only where it has one
    if $dry_run || "$vpy" "$repo/benchmarks/detector_cost.py" --help 2>/dev/null | grep -q -- '--device'; then
        detector_args=(--device cuda)
    fi
    timed "detector benchmark" 30 "$work/detector_cost.txt" "$vpy" "$repo/benchmarks/detector_cost.py" \
        "${detector_args[@]}"
else
    log "benchmarks/detector_cost.py not in this checkout: skipped"
fi

if $dry_run; then
    log "dry run: nothing was run"
else
    log "done: $work/summary.txt"
    cat "$work/summary.txt"
fi
