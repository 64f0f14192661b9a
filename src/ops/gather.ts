// Embedding lookup: rows of a [vocab, dim] table picked by integer ids.
import { record } from '../tensor/autograd.js';
import { shapeString, sizeOf, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { GiftjsError } from '../errors.js';

/** out[..., :] = weight[ids[...], :]; ids has shape idsShape (default: flat). */
export function embedding(weight: Tensor, ids: Int32Array | readonly number[], idsShape: Shape = [ids.length]): Tensor {
  if (weight.rank !== 2) throw new GiftjsError(`embedding: weight ${shapeString(weight.shape)} must be 2-D [vocab, dim]`);
  if (sizeOf(idsShape) !== ids.length) throw new GiftjsError(`embedding: ${ids.length} ids cannot have shape ${shapeString(idsShape)}`);
  const [vocab, dim] = weight.shape as [number, number];
  const out = Tensor.empty([...idsShape, dim]);
  const bf16 = weight.dtype === 'bfloat16';
  const w = bf16 ? weight.bf16Bits : weight.data;
  const outBits = new Uint32Array(out.data.buffer, out.data.byteOffset, out.size);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocab) {
      throw new RangeError(`embedding: id ${id} at position ${i} is outside the table of ${vocab} rows${weight.name ? ` ('${weight.name}')` : ''}`);
    }
    if (bf16) {
      for (let j = 0; j < dim; j++) outBits[i * dim + j] = w[id * dim + j]! << 16; // bf16 -> float32 bits
    } else {
      out.data.set((w as Float32Array).subarray(id * dim, (id + 1) * dim), i * dim);
    }
  }
  const saved = Int32Array.from(ids);
  return record('embedding', out, [weight], (g) => {
    const dw = Tensor.zeros(weight.shape);
    const d = dw.data;
    const gd = g.data;
    for (let i = 0; i < saved.length; i++) {
      const o = saved[i]! * dim;
      for (let j = 0; j < dim; j++) d[o + j]! += gd[i * dim + j]!;
    }
    return [dw];
  });
}
