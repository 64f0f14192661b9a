// Drawing cluster maps: each prototype's responses over the patch grid, upsampled (bilinear) to
// the image, coloured (blue = low, red = high) and laid over it; one PNG per prototype and phase,
// and one grid (rows: before / after the adapter; columns: the image, then each prototype).
import { loadSharp } from '../io/optional_package.js';
import { join } from 'node:path';
import { writeFilesAtomic } from '../io/atomic.js';
import type { ClusterMaps } from './cluster_maps.js';

export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Bilinear upsampling of a g x g grid to size x size (cell centres aligned, as align_corners=False). */
function upsample(grid: Float32Array, g: number, size: number): Float32Array {
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    const fy = Math.min(Math.max(((y + 0.5) * g) / size - 0.5, 0), g - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, g - 1);
    const wy = fy - y0;
    for (let x = 0; x < size; x++) {
      const fx = Math.min(Math.max(((x + 0.5) * g) / size - 0.5, 0), g - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, g - 1);
      const wx = fx - x0;
      const top = grid[y0 * g + x0]! * (1 - wx) + grid[y0 * g + x1]! * wx;
      const bottom = grid[y1 * g + x0]! * (1 - wx) + grid[y1 * g + x1]! * wx;
      out[y * size + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

/** A blue-cyan-yellow-red ramp for t in [0, 1]. */
function colour(t: number): [number, number, number] {
  const c = (x: number) => Math.round(255 * Math.min(Math.max(x, 0), 1));
  return [c(1.5 - Math.abs(4 * t - 3)), c(1.5 - Math.abs(4 * t - 2)), c(1.5 - Math.abs(4 * t - 1))];
}

function overlay(image: RgbImage, heat: Float32Array, alpha = 0.55): Uint8Array {
  const out = new Uint8Array(image.width * image.height * 3);
  for (let i = 0; i < image.width * image.height; i++) {
    const [r, g, b] = colour(heat[i]!);
    out[3 * i] = Math.round((1 - alpha) * image.data[3 * i]! + alpha * r);
    out[3 * i + 1] = Math.round((1 - alpha) * image.data[3 * i + 1]! + alpha * g);
    out[3 * i + 2] = Math.round((1 - alpha) * image.data[3 * i + 2]! + alpha * b);
  }
  return out;
}

async function encodePng(data: Uint8Array, width: number, height: number): Promise<Buffer> {
  const sharp = await loadSharp('Writing PNG heat maps');
  return sharp(Buffer.from(data), { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/**
 * Writes prototype_<k>_before.png / _after.png and grid.png into outDir. `patchGrid` is the side of
 * the patch grid; the first token (CLS) is skipped when `skipFirst`. Each prototype's two maps
 * share one colour scale, so what the adapter changed shows.
 */
export async function writeClusterMaps(image: RgbImage, maps: ClusterMaps, patchGrid: number, skipFirst: boolean, outDir: string): Promise<string[]> {
  const files: Record<string, Uint8Array> = {};
  const { rank } = maps;
  const g = patchGrid;
  const S = image.width;
  const tiles: Uint8Array[][] = [[image.data], [image.data]];
  const written: string[] = [];
  for (let p = 0; p < rank; p++) {
    const grids = [maps.before, maps.after].map((resp) => Float32Array.from({ length: g * g }, (_, i) => resp[(i + (skipFirst ? 1 : 0)) * rank + p]!));
    const lo = Math.min(...grids.map((x) => Math.min(...x)));
    const hi = Math.max(...grids.map((x) => Math.max(...x)));
    for (const [phase, grid] of grids.entries()) {
      const heat = upsample(grid.map((v) => (hi > lo ? (v - lo) / (hi - lo) : 0.5)), g, S);
      const tile = overlay(image, heat);
      const name = `prototype_${p}_${phase === 0 ? 'before' : 'after'}.png`;
      files[name] = await encodePng(tile, S, S);
      written.push(join(outDir, name));
      tiles[phase]!.push(tile);
    }
  }
  // The grid: 2 rows x (1 + rank) columns with a 4-pixel white gutter.
  const gut = 4;
  const cols = rank + 1;
  const W = cols * S + (cols + 1) * gut;
  const H = 2 * S + 3 * gut;
  const grid = new Uint8Array(W * H * 3).fill(255);
  tiles.forEach((row, r) =>
    row.forEach((tile, c) => {
      for (let y = 0; y < S; y++) {
        const dst = ((gut + r * (S + gut) + y) * W + gut + c * (S + gut)) * 3;
        grid.set(tile.subarray(y * S * 3, (y + 1) * S * 3), dst);
      }
    }),
  );
  files['grid.png'] = await encodePng(grid, W, H);
  written.push(join(outDir, 'grid.png'));
  writeFilesAtomic(outDir, files);
  return written;
}
