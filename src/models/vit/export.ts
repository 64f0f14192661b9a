// A ViT classifier written as a Hugging Face folder that transformers loads.
import { join } from 'node:path';
import { writeFileAtomic, writeFolderAtomic } from '../../io/atomic.js';
import { saveSafetensors } from '../../io/safetensors.js';
import { vitConfigJson } from './config.js';
import type { ViTForImageClassification } from './model.js';

/** Writes a loadable Hugging Face folder (config.json, model.safetensors, preprocessor_config.json), atomically. */
export function saveViTPretrained(model: ViTForImageClassification, dir: string, preprocessing: { mean: number[]; std: number[] }): void {
  const c = model.config;
  writeFolderAtomic(dir, (tmp) => {
    writeFileAtomic(join(tmp, 'config.json'), [`${JSON.stringify(vitConfigJson(c), null, 2)}\n`]);
    writeFileAtomic(join(tmp, 'preprocessor_config.json'), [`${JSON.stringify({
      image_processor_type: 'ViTImageProcessor', do_resize: true, size: { height: c.imageSize, width: c.imageSize }, do_rescale: true, rescale_factor: 1 / 255,
      do_normalize: true, image_mean: preprocessing.mean, image_std: preprocessing.std,
    }, null, 2)}\n`]);
    saveSafetensors(join(tmp, 'model.safetensors'), Object.fromEntries(model.namedParameters()), { format: 'pt' });
  });
}
