// Whether bfloat16 weights are multiplied with bf16 dot products (activations rounded to bf16,
// float32 accumulation) instead of being widened to float32. Off by default.
let enabled = false;

export function bf16ComputeEnabled(): boolean {
  return enabled;
}

export function setBf16ComputeFlag(on: boolean): void {
  enabled = on;
}
