// GIFT's grouping rule, written once: which layers share one (phi, psi) pair. Attaching GIFT to a
// model and counting its parameters from shapes alone (gift inspect) both group through here, so
// the count printed is the count trained.
//
// share 'target': one pair per target name; a target whose layers take inputs of different sizes
// (an encoder that widens between layers) gets one pair per size, named "<target>_in<size>",
// because phi and psi are sized by the input. share 'input-size': one pair per input size,
// "in<size>", shared by every target of that size.
export type GiftShare = 'target' | 'input-size';

export function groupGiftLayers<T>(layers: readonly T[], share: GiftShare, targetOf: (l: T) => string, inFeaturesOf: (l: T) => number): Map<string, T[]> {
  const sizesOf = new Map<string, Set<number>>();
  for (const l of layers) {
    const t = targetOf(l);
    sizesOf.set(t, (sizesOf.get(t) ?? new Set()).add(inFeaturesOf(l)));
  }
  const groups = new Map<string, T[]>();
  for (const l of layers) {
    const t = targetOf(l);
    const inF = inFeaturesOf(l);
    const key = share === 'input-size' ? `in${inF}` : sizesOf.get(t)!.size > 1 ? `${t}_in${inF}` : t;
    const members = groups.get(key);
    if (members) members.push(l);
    else groups.set(key, [l]);
  }
  return groups;
}

/** 2 x in x rank for each group: GIFT's trainable parameters, however many layers a group holds. */
export function giftGroupsParameterCount<T>(groups: Map<string, T[]>, rank: number, inFeaturesOf: (l: T) => number): number {
  let n = 0;
  for (const members of groups.values()) n += 2 * inFeaturesOf(members[0]!) * rank;
  return n;
}
