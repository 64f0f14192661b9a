#!/usr/bin/env bash
# The speed measurements of the GPU machine (16-core Xeon + H200) in one run: the machine's limits, the
# SmolLM2 step at 16, 8, 4 and 2 threads against PyTorch + transformers (bench/torch_folder_step.py), the
# bf16 and Llama-3.2-1B steps, greedy decoding against transformers' generate, and the webgpu backend in Node
# (Dawn, through the GPU's Vulkan driver) against the same step in PyTorch on CUDA. Each part has its own
# time limit and the whole run stops starting parts after DEADLINE seconds; everything printed goes to
# $OUT/log.txt and each benchmark's JSON line to $OUT/results.jsonl. PARTS picks parts by name (tests gemm peak
# bf16 1b bf16-2 sweep webgpu generate peak2 profile profile-bf16); all of them when it is unset.
#
# That machine has Python with PyTorch and transformers but no Node: what it needs travels beside the
# checkout, in folders .git/info/exclude ignores (built here, on an x86-64 Linux machine):
#   .dev/node.xz      xz -c $(command -v node)
#   .dev/rt.tar.xz    node_modules of `npm ci --omit=dev --ignore-scripts` plus the `webgpu` package (linux-x64 only)
#   .gl/*.deb         the Vulkan/EGL loaders (apt-get download libvulkan1 libegl1 libglvnd0 ...)
# with dist/ and build/Release/ carried too. SHORT=1 runs every part on 2-layer models at 2 threads (a dry run).
set -u
OUT=${OUT:-/tmp/device-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
DEADLINE=${DEADLINE:-440}
SECONDS=0
part() { echo; echo "== $* (at ${SECONDS}s)"; }
timeleft() { [ "$SECONDS" -lt "$DEADLINE" ] || { echo "!! deadline reached at ${SECONDS}s: the rest is skipped"; return 1; }; }
jsonline() { grep '^{' | tail -1 | python3 -c "import json,sys; l=sys.stdin.read().strip(); print(json.dumps({'case': sys.argv[1], **(json.loads(l) if l else {'missing': True})}))" "$1" >> "$OUT/results.jsonl"; }

part setup
mkdir -p /tmp/nodebin
python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('.dev/node.xz'), open('/tmp/nodebin/node','wb'))" && chmod +x /tmp/nodebin/node
export PATH=/tmp/nodebin:$PATH
if [ ! -d node_modules/yaml ]; then rm -rf node_modules; python3 -c "import tarfile; tarfile.open('.dev/rt.tar.xz').extractall('.')"; fi
if ls .gl/*.deb >/dev/null 2>&1 && ! ldconfig -p | grep -q libvulkan.so.1; then for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
export GIFTJS_PYTHON=${GIFTJS_PYTHON:-python3}
node --version; nproc; lscpu | grep -E 'Model name|^CPU\(s\)'; lscpu | grep -o -E 'avx512[a-z_0-9]*|amx[a-z_0-9]*' | sort -u | tr '\n' ' '; echo
nvidia-smi -L 2>/dev/null; "$GIFTJS_PYTHON" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'threads', torch.get_num_threads())"
ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>/dev/null
# The driver's Vulkan manifest sits under /usr/local/nvidia there, where the loader does not look by itself.
if ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1 && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi

if [ "${SHORT:-0}" = 1 ]; then THREADS="2"; BIG=2; LAYERS="--layers 2"; STEPS=1; SHAPE_EXTRA=", num_hidden_layers: 2"; else THREADS="16 8 4 2"; BIG=16; LAYERS=""; STEPS=2; SHAPE_EXTRA=""; fi

# want NAME: the part is in PARTS (a space-separated list; all parts when PARTS is unset), and time is left.
want() { { [ -z "${PARTS:-}" ] || [[ " $PARTS " == *" $1 "* ]]; } && timeleft; }

if want tests; then
  part the bf16 kernels against float64 math, and the bf16 model, attention and training tests, on this CPU
  node -e "import('./dist/src/backend/native/binding.js').then((m) => console.log('bf16 kernel:', m.loadAddon().addon?.cpuInfo().bf16Kernel))" 2>&1 | tail -1
  timeout 150 node scripts/run-tests.mjs dist/test/native/gemm.test.js dist/test/models/bf16.test.js dist/test/ops/attention_rope.test.js dist/test/cli/train_bf16.test.js 2>&1 | grep -E '^(✔|✖|﹣|ℹ (tests|pass|fail))|not ok|Error' | cut -c1-220
fi
if want gemm; then
  part GEMM of the Transformer shapes at $BIG threads, float32 and bf16
  timeout 60 node bin/gift.js bench gemm --size 1024 --budget 0.5 --threads "$BIG"
fi
if want peak; then
  part peak at $BIG threads
  timeout 30 node bin/gift.js bench peak --threads "$BIG" --json | tee /dev/stderr | jsonline "peak-$BIG" 2>/dev/null
fi
if want bf16; then
  part SmolLM2-135M bf16 step with bf16 products, $BIG threads, against PyTorch bf16
  timeout 90 node bin/gift.js bench step --shape smollm2-135m $LAYERS --dtype bf16 --bf16-compute --threads "$BIG" --steps $STEPS --torch --json | tee /dev/stderr | jsonline "step-bf16-t$BIG" 2>/dev/null
fi
if want 1b; then
  part Llama-3.2-1B bf16 step, batch 1 x 128, checkpointing, $BIG threads, against PyTorch bf16
  timeout 150 node bin/gift.js bench step --shape llama-3.2-1b $LAYERS --dtype bf16 --bf16-compute --batch 1 --seq 128 --checkpointing --threads "$BIG" --steps $STEPS --torch --json | tee /dev/stderr | jsonline "step-1b-bf16-t$BIG" 2>/dev/null
fi
if want bf16-2; then
  part SmolLM2-135M bf16 step with bf16 products, 2 threads, against PyTorch bf16
  timeout 120 node bin/gift.js bench step --shape smollm2-135m $LAYERS --dtype bf16 --bf16-compute --threads 2 --steps $STEPS --torch --json | tee /dev/stderr | jsonline "step-bf16-t2" 2>/dev/null
fi
for t in $THREADS; do
  want sweep || break
  part SmolLM2-135M f32 step, GIFT r64, 4 x 256, $t threads, against PyTorch
  timeout 110 node bin/gift.js bench step --shape smollm2-135m $LAYERS --threads "$t" --steps $STEPS --torch --json | tee /dev/stderr | jsonline "step-f32-t$t" 2>/dev/null
done
if want webgpu; then
  part webgpu step in Node on the GPU, SmolLM2-135M f32, 4 x 256
  node -e "import('./dist/src/bench/step_shapes.js').then((m) => console.log(JSON.stringify({ model_type: 'llama', ...m.stepShape('smollm2-135m')${SHAPE_EXTRA} })))" > /tmp/smollm2.json
  timeout 120 node bench/webgpu_step.mjs --steps 3 $LAYERS | tee /dev/stderr | jsonline webgpu-step 2>/dev/null
  if [ "${SHORT:-0}" != 1 ]; then
    part the same step in PyTorch on CUDA, float32 and bfloat16
    (cd bench && timeout 60 "$GIFTJS_PYTHON" torch_folder_step.py --config /tmp/smollm2.json --dtype float32 --batch 4 --seq 256 --no-checkpointing --steps 5 --device cuda) | tee /dev/stderr | jsonline cuda-f32 2>/dev/null
    (cd bench && timeout 60 "$GIFTJS_PYTHON" torch_folder_step.py --config /tmp/smollm2.json --dtype bfloat16 --batch 4 --seq 256 --no-checkpointing --steps 5 --device cuda) | tee /dev/stderr | jsonline cuda-bf16 2>/dev/null
  fi
fi
if want generate; then
  part SmolLM2-135M greedy decoding f32, $BIG threads, against transformers generate
  timeout 90 node bin/gift.js bench generate --shape smollm2-135m --new-tokens 32 --threads "$BIG" --torch --json | tee /dev/stderr | jsonline "generate-f32-t$BIG" 2>/dev/null
fi
if want peak2; then
  part peak at 2 threads
  timeout 30 node bin/gift.js bench peak --threads 2 --json | tee /dev/stderr | jsonline peak-2 2>/dev/null
fi
if want profile; then
  part profile of the SmolLM2 f32 step at $BIG threads
  timeout 60 node bin/gift.js bench step --shape smollm2-135m $LAYERS --threads "$BIG" --steps 1 --profile
fi
if want profile-bf16; then
  part profiles of the bf16 steps at $BIG threads: SmolLM2-135M 4 x 256, Llama-3.2-1B 1 x 128 with checkpointing
  timeout 60 node bin/gift.js bench step --shape smollm2-135m $LAYERS --dtype bf16 --bf16-compute --threads "$BIG" --steps 1 --profile
  timeout 90 node bin/gift.js bench step --shape llama-3.2-1b $LAYERS --dtype bf16 --bf16-compute --batch 1 --seq 128 --checkpointing --threads "$BIG" --steps 1 --profile
fi
part done
