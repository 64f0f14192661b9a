// Image resizing as Pillow's Image.resize does it on 8-bit images, value for value: what
// transformers' image processors (their PIL backend) and timm's eval transforms (torchvision on PIL
// images) feed a ViT. A separable filter, its support widened by the scale when shrinking
// (antialiasing), each output pixel centred at (x + 0.5) * scale in the input; weights normalised
// per pixel, then fixed to 22-bit integers, each pass rounded and clipped to 0..255 (the horizontal
// pass first, over the rows the vertical one reads). sharp's kernels sample elsewhere and weigh
// otherwise: a noisy 300 x 200 image came out 8-10 levels off on average, 143-155 at worst.

/** Pillow's resampling filters, by the numbers preprocessor_config.json's "resample" uses (0, nearest, is not one). */
export type ResampleFilter = 'lanczos' | 'bilinear' | 'bicubic' | 'box' | 'hamming';

export const PIL_RESAMPLE_CODES: Record<number, ResampleFilter> = { 1: 'lanczos', 2: 'bilinear', 3: 'bicubic', 4: 'box', 5: 'hamming' };

const sinc = (x: number) => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));

/** Each filter's kernel and support (Pillow's Resample.c). */
const FILTERS: Record<ResampleFilter, { kernel: (x: number) => number; support: number }> = {
  box: { kernel: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0), support: 0.5 },
  bilinear: { kernel: (x) => (Math.abs(x) < 1 ? 1 - Math.abs(x) : 0), support: 1 },
  hamming: {
    kernel: (x) => {
      const a = Math.abs(x);
      if (a === 0) return 1;
      if (a >= 1) return 0;
      return (Math.sin(Math.PI * a) / (Math.PI * a)) * (0.54 + 0.46 * Math.cos(Math.PI * a));
    },
    support: 1,
  },
  bicubic: {
    kernel: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
    support: 2,
  },
  lanczos: { kernel: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0), support: 3 },
};

const PRECISION_BITS = 32 - 8 - 2;

/** For each output position along one axis: the first input index, how many follow, and their fixed-point weights. */
interface AxisWeights {
  first: Int32Array;
  count: Int32Array;
  /** [out, taps] */
  weights: Int32Array;
  taps: number;
}

function axisWeights(inSize: number, outSize: number, filter: ResampleFilter): AxisWeights {
  const { kernel, support: baseSupport } = FILTERS[filter];
  const scale = inSize / outSize;
  const filterScale = Math.max(1, scale);
  const support = baseSupport * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * taps);
  const k = new Float64Array(taps);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    // (Pillow rounds by adding 0.5 and truncating toward zero.)
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const n = Math.min(inSize, Math.trunc(center + support + 0.5)) - lo;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += (k[i] = kernel((i + lo - center + 0.5) / filterScale));
    for (let i = 0; i < n; i++) {
      const w = sum !== 0 ? k[i]! / sum : k[i]!;
      weights[o * taps + i] = Math.trunc(w < 0 ? -0.5 + w * (1 << PRECISION_BITS) : 0.5 + w * (1 << PRECISION_BITS));
    }
    first[o] = lo;
    count[o] = n;
  }
  return { first, count, weights, taps };
}

function clip8(v: number): number {
  if (v >= 1 << (PRECISION_BITS + 8)) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

/**
 * Resizes interleaved 8-bit pixels [height, width, channels] to [outHeight, outWidth, channels] with
 * Pillow's `filter`, as Image.resize((outWidth, outHeight), filter) does (no reducing_gap).
 */
export function resizeImage(pixels: Uint8Array, width: number, height: number, channels: number, outWidth: number, outHeight: number, filter: ResampleFilter): Uint8Array {
  if (width === outWidth && height === outHeight) return pixels.slice();
  const h = axisWeights(width, outWidth, filter);
  const v = axisWeights(height, outHeight, filter);
  // The rows the vertical pass reads, which are all the horizontal pass makes.
  const rowFirst = v.first[0]!;
  const rowEnd = v.first[outHeight - 1]! + v.count[outHeight - 1]!;
  const half = 1 << (PRECISION_BITS - 1);
  let rows = pixels;
  let rowBase = 0;
  let rowWidth = width;
  if (outWidth !== width) {
    // [rowEnd - rowFirst, outWidth, channels]
    rows = new Uint8Array((rowEnd - rowFirst) * outWidth * channels);
    for (let y = rowFirst; y < rowEnd; y++) {
      const src = y * width * channels;
      const dst = (y - rowFirst) * outWidth * channels;
      for (let o = 0; o < outWidth; o++) {
        const lo = h.first[o]!;
        const n = h.count[o]!;
        const w = o * h.taps;
        for (let c = 0; c < channels; c++) {
          let acc = half;
          for (let i = 0; i < n; i++) acc += pixels[src + (lo + i) * channels + c]! * h.weights[w + i]!;
          rows[dst + o * channels + c] = clip8(acc);
        }
      }
    }
    rowBase = rowFirst;
    rowWidth = outWidth;
  }
  if (outHeight === height) return rows === pixels ? pixels.slice() : rows;
  const out = new Uint8Array(outHeight * outWidth * channels);
  const stride = rowWidth * channels;
  for (let o = 0; o < outHeight; o++) {
    const lo = v.first[o]! - rowBase;
    const n = v.count[o]!;
    const w = o * v.taps;
    for (let x = 0; x < stride; x++) {
      let acc = half;
      for (let i = 0; i < n; i++) acc += rows[(lo + i) * stride + x]! * v.weights[w + i]!;
      out[o * stride + x] = clip8(acc);
    }
  }
  return out;
}
