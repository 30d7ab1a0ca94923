#!/bin/bash
# GPU benchmark on a machine that has PyTorch with CUDA but no .NET and no TorchSharp-cuda package (how the numbers
# in docs/performance.md "GPU" were taken). Two steps:
#   benchmarks/gpu-bench.sh pack          here: Release build of `dit` + the .NET runtime into .gpu/ (~46 MB)
#   OUT=<folder> benchmarks/gpu-bench.sh run    there, from the repo root with .gpu/ beside it
# `run` loads TorchSharp's LibTorchSharp against that machine's PyTorch libtorch (its CUDA libraries on
# LD_LIBRARY_PATH, the CPU libtorch of the build left out), then runs bench-model (fp32, TF32, bf16, each checked
# against the CPU), bench-serving on the embedded model and a short training run, all with --device cuda.
set -u
case "${1:-}" in
pack)
  dotnet build src/DiT.Cli -c Release >/dev/null || exit 1
  rm -rf .gpu && mkdir -p .gpu/stage && cp -r src/DiT.Cli/bin/Release/net10.0 .gpu/stage/app
  find .gpu/stage/app/runtimes -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +
  find .gpu/stage/app/runtimes/linux-x64/native -type f ! -name libLibTorchSharp.so -delete
  dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
  tar -C "$dotnet_root" -cf - dotnet host shared/Microsoft.NETCore.App shared/Microsoft.AspNetCore.App | xz -T0 -6 > .gpu/dotnet.tar.xz
  tar -C .gpu/stage -cf - app | xz -T0 -6 > .gpu/app.tar.xz && rm -rf .gpu/stage
  du -sh .gpu ;;
run)
  root=$PWD; log=$OUT/log.txt
  say() { echo "=== $* ($(date +%T))" | tee -a "$log"; }
  mkdir -p /opt/dn && tar -C /opt/dn -xJf .gpu/dotnet.tar.xz && tar -C /opt -xJf .gpu/app.tar.xz || exit 3
  export DOTNET_ROOT=/opt/dn PATH=/opt/dn:$PATH DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1
  torch_lib=$(python3 -c "import torch,os;print(os.path.join(os.path.dirname(torch.__file__),'lib'))")
  libs=$torch_lib; for d in "$(dirname "$(dirname "$torch_lib")")"/nvidia/*/lib; do libs=$libs:$d; done
  export LD_LIBRARY_PATH=$libs:${LD_LIBRARY_PATH:-}
  say env; python3 -c "import torch;print('torch',torch.__version__,'cuda',torch.version.cuda,torch.cuda.get_device_name())" | tee -a "$log"
  dit=/opt/app/dit
  bench="--device cuda --models DiT-B/2,DiT-XL/2 --batches 1,8,32,128 --runs 10 --verify --matmul-size 8192"
  say fp32; timeout 120 $dit bench-model $bench 2>&1 | tee "$OUT/bench-fp32.txt" | tail -16
  say tf32; timeout 120 $dit bench-model $bench --tf32 2>&1 | tee "$OUT/bench-tf32.txt" | tail -16
  say bf16; timeout 120 $dit bench-model $bench --dtype bf16 2>&1 | tee "$OUT/bench-bf16.txt" | tail -16
  say serving; timeout 150 $dit bench-serving --device cuda --checkpoint "$root/models/fashion-mnist/dit-fmnist.safetensors" \
    --sampler dpmpp-2m --requests 32 --repeats 1 --max-batch 32 2>&1 | tee "$OUT/serving.txt" | tail -16
  say train; python3 -c "
import numpy as np, PIL.Image as I, os
r = np.random.default_rng(0)
for c in range(4):
    os.makedirs(f'/tmp/imgs/c{c}', exist_ok=True)
    for i in range(32): I.fromarray((r.random((32, 32, 3)) * 60 + c * 60).astype('uint8')).save(f'/tmp/imgs/c{c}/{i}.png')"
  timeout 100 $dit train --data /tmp/imgs --vae none --preset DiT-S/2 --image-size 32 --steps 300 --batch-size 128 \
    --checkpoint-every 150 --log-every 50 --device cuda --out /tmp/run 2>&1 | tee "$OUT/train.txt" | tail -10
  say done ;;
*) echo "usage: $0 pack | run" >&2; exit 2 ;;
esac
