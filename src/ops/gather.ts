// Embedding lookup: rows of a [vocab, dim] table picked by integer ids.
import { record } from '../tensor/autograd.js';
import { shapeString, sizeOf, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { getBackend } from '../backend/index.js';
import { GiftjsError } from '../errors.js';

/** out[..., :] = weight[ids[...], :]; ids has shape idsShape (default: flat). */
export function embedding(weight: Tensor, ids: Int32Array | readonly number[], idsShape: Shape = [ids.length]): Tensor {
  if (weight.rank !== 2) throw new GiftjsError(`embedding: weight ${shapeString(weight.shape)} must be 2-D [vocab, dim]`);
  if (sizeOf(idsShape) !== ids.length) throw new GiftjsError(`embedding: ${ids.length} ids cannot have shape ${shapeString(idsShape)}`);
  const [vocab, dim] = weight.shape as [number, number];
  const out = Tensor.empty([...idsShape, dim]);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocab) {
      out.dispose();
      throw new RangeError(`embedding: id ${id} at position ${i} is outside the table of ${vocab} rows${weight.name ? ` ('${weight.name}')` : ''}`);
    }
  }
  const saved = Int32Array.from(ids);
  getBackend().gatherRows(weight.buffer, saved, out.buffer, dim); // a bfloat16 table is widened as it is read
  return record('embedding', out, [weight], (g) => {
    const dw = Tensor.zeros(weight.shape);
    getBackend().scatterAddRows(g.buffer, saved, dw.buffer, dim);
    return [dw];
  });
}
