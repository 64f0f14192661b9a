// timm's tensor names for ViT: where each Hugging Face parameter lives in a timm vit_* checkpoint
// (a fused qkv tensor holds query, key and value as row ranges).

/** timm's name for a Hugging Face ViT parameter, with the rows of a fused qkv tensor it lives in ([start, end) or null). */
export function timmName(name: string, H: number): { name: string; rows: [number, number] | null } {
  const layer = /^vit\.encoder\.layer\.(\d+)\.(.+)$/.exec(name);
  if (layer) {
    const [, i, rest] = layer;
    const qkv = /^attention\.attention\.(query|key|value)\.(weight|bias)$/.exec(rest!);
    if (qkv) {
      const k = ['query', 'key', 'value'].indexOf(qkv[1]!);
      return { name: `blocks.${i}.attn.qkv.${qkv[2]}`, rows: [k * H, (k + 1) * H] };
    }
    const map: Record<string, string> = {
      'layernorm_before': 'norm1', 'layernorm_after': 'norm2', 'attention.output.dense': 'attn.proj', 'intermediate.dense': 'mlp.fc1', 'output.dense': 'mlp.fc2',
    };
    const m = /^(.+)\.(weight|bias)$/.exec(rest!)!;
    return { name: `blocks.${i}.${Object.hasOwn(map, m[1]!) ? map[m[1]!] : m[1]}.${m[2]}`, rows: null };
  }
  const top: Record<string, string> = {
    'vit.embeddings.cls_token': 'cls_token', 'vit.embeddings.position_embeddings': 'pos_embed',
    'vit.embeddings.patch_embeddings.projection.weight': 'patch_embed.proj.weight', 'vit.embeddings.patch_embeddings.projection.bias': 'patch_embed.proj.bias',
    'vit.layernorm.weight': 'norm.weight', 'vit.layernorm.bias': 'norm.bias', 'classifier.weight': 'head.weight', 'classifier.bias': 'head.bias',
  };
  return { name: Object.hasOwn(top, name) ? top[name]! : name, rows: null };
}
