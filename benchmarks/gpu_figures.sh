#!/usr/bin/env bash
# Every GPU throughput figure of the scaling work, one JSON file each, in the folder given as argument:
#   finetune_paper_224.json   ConvNeXt-Base at 224 px (paper profile), stage loop vs bare step
#   finetune_paper_224_fp32.json  the same in fp32 / contiguous, to show what bf16 + channels_last buy
#   finetune_hires.json       ConvNeXt-Base at 1024x832 keep_aspect from 2048 px 16-bit PNGs (hires profile)
#   embed_biomedclip.json     BiomedCLIP ViT-B/16 image tower, embed stage path vs bare forward
#   gpus.json                 the GPUs seen; with more than one, DDP scaling is measured by the distributed
#                             training runs, not here
# Weights are random (pretrained=False): the figures are speed only. About 6 minutes on one H200.
#
#   benchmarks/gpu_figures.sh OUT_DIR            # on the GPU machine
#   benchmarks/gpu_figures.sh OUT_DIR --tiny     # the same runs with tiny models and sizes on CPU (a check)
set -euo pipefail

out=${1:?usage: benchmarks/gpu_figures.sh OUT_DIR [--tiny]}
mode=${2:-full}
mkdir -p "$out"
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python}

if [[ $mode == --tiny ]]; then
  arch=convnext_atto device=cpu workers=0
  export OMP_NUM_THREADS=1  # tiny tensors: more threads only contend (bf16 on CPU suffers most)
  paper=(--img-size 64 --png-size 128x104 --images 16 --batch-size 8 --epochs 2)
  hires=(--img-size 80x64 --png-size 160x128 --images 8 --batch-size 4 --epochs 1)
  embed=(--model demo-tiny-clip --images 16 --batch-size 8 --rounds 1)
else
  arch=convnext_base.fb_in22k_ft_in1k device=cuda workers=16
  # 2048 images: enough batches of 64 that worker start-up and the first cudnn autotune are a small share
  paper=(--img-size 224 --png-size 512x416 --images 2048 --batch-size 64 --epochs 3)
  # batch 32: the hires profile's batch size (its memory estimate is checked by the peak printed here)
  hires=(--img-size 1024x832 --png-size 2048x1664 --images 512 --batch-size 32 --epochs 3)
  embed=(--model hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224 --random-weights
         --images 4096 --batch-size 256 --rounds 3)
fi

run() { echo "+ $*" >&2; "$py" "$@"; }

"$py" - "$out/gpus.json" <<'EOF'
import json, sys, torch
gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
json.dump({"gpus": gpus, "torch": torch.__version__}, open(sys.argv[1], "w"), indent=2)
print(f"GPUs: {gpus or 'none'}")
EOF

run "$here/bench_finetune.py" --arch "$arch" --device "$device" --workers "$workers" "${paper[@]}" \
  --precision auto --channels-last auto --json "$out/finetune_paper_224.json"
run "$here/bench_finetune.py" --arch "$arch" --device "$device" --workers "$workers" "${paper[@]}" \
  --precision fp32 --channels-last false --json "$out/finetune_paper_224_fp32.json"
run "$here/bench_finetune.py" --arch "$arch" --device "$device" --workers "$workers" "${hires[@]}" \
  --geometry keep_aspect --png-bits 16 --precision bf16 --channels-last true --grad-checkpointing \
  --json "$out/finetune_hires.json"
run "$here/bench_embed.py" --device "$device" --workers "$((workers / 2))" "${embed[@]}" \
  --json "$out/embed_biomedclip.json"
echo "figures written to $out" >&2
